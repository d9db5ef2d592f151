import { afterEach, describe, expect, test } from "bun:test";
import { chmod, link, mkdtemp, readdir, readFile, rm, stat, truncate, writeFile } from "node:fs/promises";
import { hostname, tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { ManualClock } from "../../src/common/clock.ts";
import { DtError, isDtError } from "../../src/common/errors.ts";
import { LocalCache, type CacheLimits, type LocalCacheOptions } from "../../src/isolate/cache/local-cache.ts";
import { withFileLock } from "../../src/isolate/cache/lock.ts";
import { digestOfBytes, type Digest } from "../../src/isolate/digest.ts";

const GENEROUS: CacheLimits = { maxBytes: 2 ** 40, maxItems: 1_000_000, minFreeBytes: 0 };
/** Every wait on another process or lock has this deadline, so a bug fails the test instead of hanging it. */
const DEADLINE_MS = 15_000;

const tempDirs: string[] = [];
const openCaches: LocalCache[] = [];
const workers: CacheWorker[] = [];

afterEach(async () => {
  for (const w of workers.splice(0)) w.kill();
  for (const c of openCaches.splice(0)) await c.close().catch(() => {});
  for (const d of tempDirs.splice(0)) await rm(d, { recursive: true, force: true });
});

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "dt-cache-test-"));
  tempDirs.push(dir);
  return dir;
}

async function openCache(dir: string, limits: Partial<CacheLimits> = {}, clock = new ManualClock(), options: LocalCacheOptions = {}) {
  const cache = await LocalCache.open(dir, { ...GENEROUS, ...limits }, clock, options);
  openCaches.push(cache);
  return cache;
}

/** A blob of `size` bytes whose content is told apart by `label`. */
function blob(label: string, size = 10): { digest: Digest; text: string; stream: () => ReadableStream<Uint8Array> } {
  const text = label.padEnd(size, ".").slice(0, size);
  return { digest: digestOfBytes(text), text, stream: () => new Blob([text]).stream() };
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(() => true, () => false);
}

async function insertAll(cache: LocalCache, clock: ManualClock, blobs: ReturnType<typeof blob>[]): Promise<void> {
  for (const b of blobs) {
    await cache.insert(b.digest, b.stream());
    clock.advance(1000);
  }
}

async function persistedState(dir: string): Promise<Map<string, { size: number; lastUseMs: number; mtimeMs: number | null }>> {
  const state = JSON.parse(await readFile(join(dir, "state.json"), "utf8"));
  return new Map(state.items.map((i: { hash: string }) => [i.hash, i]));
}

async function expectNoSpace(promise: Promise<unknown>, limitName: string): Promise<void> {
  const err = await promise.then(() => null, (e: unknown) => e);
  expect(isDtError(err, "no_space")).toBe(true);
  expect((err as DtError).message).toContain(limitName);
}

describe("LocalCache insert and lookup", () => {
  test("round trip stores a read-only executable file at pathOf and counts hits and misses", async () => {
    const cache = await openCache(await tempDir());
    const b = blob("hello", 5);
    expect(await cache.lookup(b.digest)).toBeNull();
    const path = await cache.insert(b.digest, b.stream());
    expect(path).toBe(cache.pathOf(b.digest));
    expect(await readFile(path, "utf8")).toBe(b.text);
    expect((await stat(path)).mode & 0o777).toBe(0o555);
    expect(await cache.lookup(b.digest)).toBe(path);
    expect(cache.stats).toMatchObject({ hitItems: 1, hitBytes: 5, missItems: 1, missBytes: 5 });
  });

  test("a body that does not match its digest throws digest_mismatch and leaves no file", async () => {
    const dir = await tempDir();
    const cache = await openCache(dir);
    const expected = blob("right");
    for (const wrong of [blob("wrong"), blob("right", 11)]) {
      const err = await cache.insert(expected.digest, wrong.stream()).then(() => null, (e: unknown) => e);
      expect(isDtError(err, "digest_mismatch")).toBe(true);
    }
    expect(await exists(cache.pathOf(expected.digest))).toBe(false);
    expect(await readdir(join(dir, "tmp"))).toEqual([]);
    expect(await cache.lookup(expected.digest)).toBeNull();
  });

  test("insertBytes stores a verified in-memory blob like insert, and refuses a mismatch", async () => {
    const dir = await tempDir();
    const cache = await openCache(dir);
    const b = blob("batched", 1_000);
    const path = cache.insertBytes(b.digest, new TextEncoder().encode(b.text));
    expect(path).toBe(cache.pathOf(b.digest));
    expect((await stat(path)).mode & 0o777).toBe(0o555);
    expect(await cache.lookup(b.digest)).toBe(path);
    const wrong = blob("other");
    expect(() => cache.insertBytes(wrong.digest, new TextEncoder().encode("not other"))).toThrow("does not match its digest");
    expect(await exists(cache.pathOf(wrong.digest))).toBe(false);
    expect(await readdir(join(dir, "tmp"))).toEqual([]);
  });

  test("two instances inserting the same digest at once both succeed", async () => {
    const dir = await tempDir();
    const [a, b] = [await openCache(dir), await openCache(dir)];
    const x = blob("same", 100_000);
    const [pathA, pathB] = await Promise.all([a.insert(x.digest, x.stream()), b.insert(x.digest, x.stream())]);
    expect(pathA).toBe(pathB);
    expect(await readFile(pathA, "utf8")).toBe(x.text);
    // One rename replaced the other's file, so one of them rehashes; both still hit.
    expect(await a.lookup(x.digest)).toBe(pathA);
    expect(await b.lookup(x.digest)).toBe(pathB);
  });
});

describe("LocalCache detects files changed behind its back", () => {
  test("a file rewritten through a hardlink is dropped on lookup", async () => {
    const dir = await tempDir();
    const cache = await openCache(dir);
    const b = blob("original");
    const path = await cache.insert(b.digest, b.stream());
    const linked = join(await tempDir(), "data.txt"); // a run dir on the same filesystem
    await link(path, linked);
    await chmod(linked, 0o755);
    await writeFile(linked, "tampered!!"); // same size: only the mtime can tell
    await chmod(linked, 0o555);
    expect(await cache.lookup(b.digest)).toBeNull();
    expect(await exists(path)).toBe(false);
    expect(cache.stats.missItems).toBe(1);
  });

  test("a truncated file is dropped on lookup", async () => {
    const cache = await openCache(await tempDir());
    const b = blob("whole");
    const path = await cache.insert(b.digest, b.stream());
    await chmod(path, 0o755);
    await truncate(path, 3);
    expect(await cache.lookup(b.digest)).toBeNull();
    expect(await exists(path)).toBe(false);
  });

  test("a file rewritten with the same bytes is rehashed, kept and made read-only again", async () => {
    const cache = await openCache(await tempDir());
    const b = blob("same bytes");
    const path = await cache.insert(b.digest, b.stream());
    await chmod(path, 0o644);
    await writeFile(path, b.text);
    expect(await cache.lookup(b.digest)).toBe(path);
    expect((await stat(path)).mode & 0o777).toBe(0o555);
  });
});

describe("LocalCache trim", () => {
  test("evicts least recently used first until total bytes fit", async () => {
    const dir = await tempDir();
    const clock = new ManualClock();
    const cache = await openCache(dir, { maxBytes: 20 }, clock);
    const [a, b, c] = [blob("a"), blob("b"), blob("c")];
    await insertAll(cache, clock, [a, b, c]);
    expect(await cache.lookup(a.digest)).not.toBeNull(); // a is now the most recent
    cache.unpinAll();
    expect(await cache.trim()).toEqual({ items: 1, bytes: 10 });
    expect(await exists(cache.pathOf(b.digest))).toBe(false);
    expect(cache.entries().map((e) => e.hash)).toEqual([c.digest.hash, a.digest.hash]);
    expect(cache.stats).toMatchObject({ evictedItems: 1, evictedBytes: 10 });
  });

  test("evicts least recently used first until the item count fits", async () => {
    const clock = new ManualClock();
    const cache = await openCache(await tempDir(), { maxItems: 2 }, clock);
    const blobs = ["a", "b", "c", "d"].map((l) => blob(l));
    await insertAll(cache, clock, blobs);
    cache.unpinAll();
    expect(await cache.trim()).toEqual({ items: 2, bytes: 20 });
    expect(cache.entries().map((e) => e.hash)).toEqual([blobs[2]!.digest.hash, blobs[3]!.digest.hash]);
  });

  test("never evicts pinned items and throws no_space when they alone exceed maxBytes", async () => {
    const clock = new ManualClock();
    const cache = await openCache(await tempDir(), { maxBytes: 15 }, clock);
    const [a, b] = [blob("a"), blob("b")];
    await insertAll(cache, clock, [a, b]);
    await expectNoSpace(cache.trim(), "maxBytes");
    expect(await exists(cache.pathOf(a.digest))).toBe(true);
    expect(await exists(cache.pathOf(b.digest))).toBe(true);
    cache.unpinAll();
    expect(await cache.lookup(b.digest)).not.toBeNull(); // pins b again
    expect(await cache.trim()).toEqual({ items: 1, bytes: 10 });
    expect(await exists(cache.pathOf(a.digest))).toBe(false);
  });

  test("evicts until the filesystem has minFreeBytes free, and throws no_space when pins prevent it", async () => {
    const dir = await tempDir();
    const clock = new ManualClock();
    // A pretend 100-byte filesystem holding only the cached blobs.
    const freeBytes = async () => {
      const names = (await readdir(dir)).filter((n) => /^[0-9a-f]{64}$/.test(n));
      const sizes = await Promise.all(names.map(async (n) => (await stat(join(dir, n))).size));
      return 100 - sizes.reduce((s, x) => s + x, 0);
    };
    const cache = await openCache(dir, { minFreeBytes: 85 }, clock, { freeBytes });
    const blobs = ["a", "b", "c", "d"].map((l) => blob(l));
    await insertAll(cache, clock, blobs);
    cache.unpinAll();
    expect(await cache.trim()).toEqual({ items: 3, bytes: 30 }); // 60 free → 90 free
    expect(cache.entries().map((e) => e.hash)).toEqual([blobs[3]!.digest.hash]);
    const pinned = [blob("e"), blob("f")];
    await insertAll(cache, clock, pinned); // 70 free; evicting d gives 80, and e and f are in use
    await expectNoSpace(cache.trim(), "minFreeBytes");
    expect(await exists(cache.pathOf(blobs[3]!.digest))).toBe(false);
    for (const b of pinned) expect(await exists(cache.pathOf(b.digest))).toBe(true);
  });
});

/** Whether this machine lets the test mount a tmpfs (root, and a mount namespace that allows it). */
const canMount = (() => {
  const probe = Bun.spawnSync(["sh", "-c", 'd=$(mktemp -d) && mount -t tmpfs -o size=1m tmpfs "$d" && umount "$d"; r=$?; rmdir "$d"; exit $r']);
  return probe.exitCode === 0;
})();

describe("LocalCache on a full disk", () => {
  test.skipIf(!canMount)(`a streamed insert that fills its filesystem midway throws no_space, leaves no temp file, and counts nothing${canMount ? "" : " [skipped: needs root and mount -t tmpfs]"}`, async () => {
    const disk = await tempDir();
    expect(Bun.spawnSync(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", disk]).exitCode).toBe(0);
    try {
      const cache = await openCache(disk);
      const sized = (label: string, size: number) => {
        const bytes = new Uint8Array(size).fill(label.charCodeAt(0));
        // In 64 KiB chunks, as a body comes off the network.
        const stream = () => new ReadableStream<Uint8Array>({
          start(controller) {
            for (let offset = 0; offset < size; offset += 65536) controller.enqueue(bytes.subarray(offset, offset + 65536));
            controller.close();
          },
        });
        return { digest: digestOfBytes(bytes), bytes, stream };
      };
      const kept = sized("k", 1 << 20);
      await cache.insert(kept.digest, kept.stream());
      const tooBig = sized("b", 6 << 20);
      const err = await cache.insert(tooBig.digest, tooBig.stream()).then(() => null, (e: unknown) => e);
      expect(isDtError(err, "no_space"), String(err)).toBe(true);
      expect((err as DtError).message).toContain(disk);
      // The part written before the disk filled is gone, and with it the space it took.
      expect(await readdir(join(disk, "tmp"))).toEqual([]);
      expect(await exists(cache.pathOf(tooBig.digest))).toBe(false);
      expect(cache.entries().map((e) => [e.hash, e.size])).toEqual([[kept.digest.hash, kept.bytes.length]]);
      expect((await readFile(cache.pathOf(kept.digest))).equals(Buffer.from(kept.bytes))).toBe(true);
      // Blobs in memory take the same way out.
      expect(isDtError((() => { try { cache.insertBytes(tooBig.digest, tooBig.bytes); } catch (e) { return e; } })(), "no_space")).toBe(true);
      expect(await readdir(join(disk, "tmp"))).toEqual([]);
      const after = sized("a", 2 << 20);
      await cache.insert(after.digest, after.stream());
      expect(cache.entries().map((e) => e.size).sort()).toEqual([kept.bytes.length, after.bytes.length].sort());
      await cache.close();
    } finally {
      Bun.spawnSync(["umount", "-l", disk]);
    }
  });
});

describe("LocalCache persisted state", () => {
  test("LRU order survives close and open", async () => {
    const dir = await tempDir();
    const clock = new ManualClock(1_000);
    const first = await openCache(dir, {}, clock);
    const [a, b, c] = [blob("a"), blob("b"), blob("c")];
    await insertAll(first, clock, [a, b, c]);
    await first.lookup(a.digest);
    await first.close();
    expect((await readdir(join(dir, "pins")))).toEqual([]);

    const second = await openCache(dir, { maxItems: 1 }, new ManualClock(9_000));
    expect(second.entries()).toEqual([
      { hash: b.digest.hash, size: 10, lastUseMs: 2_000 },
      { hash: c.digest.hash, size: 10, lastUseMs: 3_000 },
      { hash: a.digest.hash, size: 10, lastUseMs: 4_000 },
    ]);
    expect(await second.trim()).toEqual({ items: 2, bytes: 20 });
    expect(await second.lookup(a.digest)).not.toBeNull();
  });

  test("open drops records of missing files, adopts stray hash-named files unverified and leaves other files alone", async () => {
    const dir = await tempDir();
    const clock = new ManualClock();
    const first = await openCache(dir, {}, clock);
    const [kept, lost] = [blob("kept"), blob("lost")];
    await insertAll(first, clock, [kept, lost]);
    await first.close();
    await rm(first.pathOf(lost.digest), { force: true });
    const [stray, liar] = [blob("stray"), blob("liar")];
    await writeFile(join(dir, stray.digest.hash), stray.text);
    await writeFile(join(dir, liar.digest.hash), "not the liar's bytes");
    await writeFile(join(dir, "README"), "not ours");

    const second = await openCache(dir, {}, clock);
    const entries = new Map(second.entries().map((e) => [e.hash, e]));
    expect([...entries.keys()].sort()).toEqual([kept.digest.hash, stray.digest.hash, liar.digest.hash].sort());
    expect(entries.get(stray.digest.hash)!.lastUseMs).toBe(0); // adopted files go first
    expect((await persistedState(dir)).get(stray.digest.hash)!.mtimeMs).toBeNull();
    expect(await second.lookup(stray.digest)).not.toBeNull(); // rehashed and accepted
    expect(await second.lookup({ hash: liar.digest.hash, size: 20 })).toBeNull(); // rehashed and deleted
    expect(await exists(join(dir, liar.digest.hash))).toBe(false);
    expect(await readFile(join(dir, "README"), "utf8")).toBe("not ours");
  });
});

describe("LocalCache shared by two instances", () => {
  test("a trim never evicts another instance's pinned items", async () => {
    const dir = await tempDir();
    const clock = new ManualClock();
    const owner = await openCache(dir, {}, clock);
    const [loose, held] = [blob("loose"), blob("held")];
    await insertAll(owner, clock, [loose]);
    owner.unpinAll();
    await insertAll(owner, clock, [held]);
    await owner.trim(); // persists both records
    const trimmer = await openCache(dir, { maxBytes: 0 }, clock);
    await expectNoSpace(trimmer.trim(), "maxBytes");
    expect(await exists(owner.pathOf(loose.digest))).toBe(false);
    expect(await owner.lookup(held.digest)).not.toBeNull();
  });

  test("items looked up while another instance trims them away are never lost", async () => {
    const dir = await tempDir();
    const clock = new ManualClock();
    const user = await openCache(dir, {}, clock);
    const blobs = Array.from({ length: 40 }, (_, i) => blob(`item${i}`));
    await insertAll(user, clock, blobs);
    await user.trim(); // persists the records, so the trimmer knows them
    user.unpinAll();
    const trimmer = await openCache(dir, { maxBytes: 0 }, clock);
    // The trimmer wants every item gone; the user pins them one after another meanwhile.
    const lookUpInTurn = async () => {
      const paths: Array<string | null> = [];
      for (const b of blobs) paths.push(await user.lookup(b.digest));
      return paths;
    };
    const [paths] = await Promise.all([lookUpInTurn(), trimmer.trim().catch(() => null)]);
    // Each lookup either lost the race (null) or got a path that stays, because
    // the trimmer saw the pin in time or put the file back.
    for (const path of paths) if (path !== null) expect(await exists(path)).toBe(true);
    expect(user.stats.hitItems + user.stats.missItems).toBe(40);
  });

  test("concurrent inserts, lookups and trims lose no records", async () => {
    const dir = await tempDir();
    const [clockA, clockB] = [new ManualClock(1_000), new ManualClock(500_000)];
    const [a, b] = [await openCache(dir, {}, clockA), await openCache(dir, {}, clockB)];
    const shared = blob("shared");
    const mineA = Array.from({ length: 20 }, (_, i) => blob(`a${i}`));
    const mineB = Array.from({ length: 20 }, (_, i) => blob(`b${i}`));
    await Promise.all([insertAll(a, clockA, [shared, ...mineA]), insertAll(b, clockB, mineB)]);
    await Promise.all([a.trim(), b.trim(), b.lookup(shared.digest)]);
    await Promise.all([a.close(), b.close()]);

    const state = await persistedState(dir);
    for (const x of [shared, ...mineA, ...mineB]) {
      expect(state.get(x.digest.hash)?.mtimeMs).toBeNumber(); // recorded at insert, not adopted
    }
    expect(state.size).toBe(41);
    expect(state.get(shared.digest.hash)!.lastUseMs).toBe(520_000); // b's later use won the merge
  });
});

describe("LocalCache inter-process lock", () => {
  async function deadPid(): Promise<number> {
    const child = Bun.spawn(["true"]);
    await child.exited;
    return child.pid;
  }

  test("a lock left by a dead process is broken", async () => {
    const dir = await tempDir();
    const lockPath = join(dir, "state.lock");
    await writeFile(lockPath, JSON.stringify({ pid: await deadPid(), host: hostname(), token: "dead", acquiredAtMs: Date.now() }));
    const cache = await openCache(dir, {}, new ManualClock(), { lock: { timeoutMs: DEADLINE_MS } });
    expect(await exists(lockPath)).toBe(false);
    await cache.close();
  });

  test("a lock older than the stale bound is broken even if its pid lives", async () => {
    const dir = await tempDir();
    const lockPath = join(dir, "state.lock");
    await writeFile(lockPath, JSON.stringify({ pid: process.pid, host: hostname(), token: "old", acquiredAtMs: Date.now() - 60_000 }));
    await openCache(dir, {}, new ManualClock(), { lock: { staleMs: 30_000, timeoutMs: DEADLINE_MS } });
    expect(await exists(lockPath)).toBe(false);
  });

  test("a fresh lock of a live process is waited for, not broken", async () => {
    const dir = await tempDir();
    const lockPath = join(dir, "state.lock");
    const held = JSON.stringify({ pid: process.pid, host: hostname(), token: "live", acquiredAtMs: Date.now() });
    await writeFile(lockPath, held);
    const err = await LocalCache.open(dir, GENEROUS, new ManualClock(), { lock: { timeoutMs: 50 } }).then(() => null, (e: unknown) => e);
    expect((err as Error).message).toContain("timed out waiting for the cache lock");
    expect(await readFile(lockPath, "utf8")).toBe(held);
  });

  test("critical sections never overlap", async () => {
    const dir = await tempDir();
    const counter = join(dir, "counter");
    await writeFile(counter, "0");
    let inside = 0;
    let maxInside = 0;
    await Promise.all(Array.from({ length: 20 }, () => withFileLock(join(dir, "lock"), { timeoutMs: DEADLINE_MS }, async () => {
      maxInside = Math.max(maxInside, ++inside);
      const n = Number(await readFile(counter, "utf8"));
      await writeFile(counter, String(n + 1));
      inside--;
    })));
    expect(maxInside).toBe(1);
    expect(await readFile(counter, "utf8")).toBe("20");
  });
});

/** Another process using the cache, driven one command per line over stdin; it answers one JSON line per command. */
class CacheWorker {
  private readonly proc: Bun.Subprocess<"pipe", "pipe", "inherit">;
  private readonly lines: AsyncIterator<string>;

  constructor(script: string, args: string[]) {
    this.proc = Bun.spawn(["bun", script, ...args], { stdin: "pipe", stdout: "pipe", stderr: "inherit" });
    this.lines = readLines(this.proc.stdout);
  }

  get pid(): number {
    return this.proc.pid;
  }

  async send(command: string): Promise<{ ok: boolean; code?: string; result?: unknown }> {
    this.proc.stdin.write(`${command}\n`);
    await this.proc.stdin.flush();
    return this.reply(command);
  }

  /** The next answer line, within the deadline. */
  async reply(what: string): Promise<{ ok: boolean; code?: string; result?: unknown }> {
    let timer: Timer | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`worker did not answer "${what}" within ${DEADLINE_MS} ms`)), DEADLINE_MS);
    });
    try {
      const next = await Promise.race([this.lines.next(), timeout]);
      if (next.done) throw new Error(`worker exited before answering "${what}"`);
      return JSON.parse(next.value);
    } finally {
      clearTimeout(timer);
    }
  }

  kill(): void {
    this.proc.kill("SIGKILL");
  }

  exited(): Promise<number> {
    return this.proc.exited;
  }
}

async function* readLines(stream: ReadableStream<Uint8Array>): AsyncGenerator<string> {
  const decoder = new TextDecoder();
  let buffered = "";
  for await (const chunk of stream) {
    buffered += decoder.decode(chunk, { stream: true });
    for (let nl = buffered.indexOf("\n"); nl >= 0; nl = buffered.indexOf("\n")) {
      yield buffered.slice(0, nl);
      buffered = buffered.slice(nl + 1);
    }
  }
}

const WORKER_SOURCE = `
import { ManualClock } from ${JSON.stringify(resolve(import.meta.dir, "../../src/common/clock.ts"))};
import { LocalCache } from ${JSON.stringify(resolve(import.meta.dir, "../../src/isolate/cache/local-cache.ts"))};
import { digestOfBytes } from ${JSON.stringify(resolve(import.meta.dir, "../../src/isolate/digest.ts"))};

const [dir, startMs] = process.argv.slice(2);
const clock = new ManualClock(Number(startMs));
const cache = await LocalCache.open(dir, { maxBytes: 2 ** 40, maxItems: 1e6, minFreeBytes: 0 }, clock);
const blobOf = (label) => new TextEncoder().encode(label.padEnd(10, ".").slice(0, 10));
console.log(JSON.stringify({ ok: true, result: "open" }));
for await (const line of console) {
  const [command, ...labels] = line.trim().split(" ");
  try {
    let result = null;
    if (command === "insert") {
      for (const label of labels) {
        const bytes = blobOf(label);
        await cache.insert(digestOfBytes(bytes), new Blob([bytes]).stream());
        clock.advance(1000);
      }
    } else if (command === "trim") result = await cache.trim();
    else if (command === "close") await cache.close();
    else throw new Error("unknown command " + command);
    console.log(JSON.stringify({ ok: true, result }));
  } catch (err) {
    console.log(JSON.stringify({ ok: false, code: err.code, message: String(err.message) }));
  }
}
`;

describe("LocalCache shared with another process", () => {
  async function startWorker(dir: string, startMs: number): Promise<CacheWorker> {
    const script = join(await tempDir(), "worker.ts");
    await writeFile(script, WORKER_SOURCE);
    const worker = new CacheWorker(script, [dir, String(startMs)]);
    workers.push(worker);
    expect(await worker.reply("open")).toEqual({ ok: true, result: "open" }); // it announces itself once the cache is open
    return worker;
  }

  test("its pins are honoured while it lives and ignored once it is dead", async () => {
    const dir = await tempDir();
    const worker = await startWorker(dir, 1_000);
    const theirs = ["w1", "w2", "w3"].map((l) => blob(l));
    expect(await worker.send("insert w1 w2 w3")).toMatchObject({ ok: true });
    expect(await worker.send("trim")).toMatchObject({ ok: true }); // persists its records: the oldest in the cache

    const clock = new ManualClock(1_000_000);
    const ours = await openCache(dir, { maxBytes: 40 }, clock);
    const [old1, old2, current] = [blob("o1"), blob("o2"), blob("cur")];
    await insertAll(ours, clock, [old1, old2]);
    ours.unpinAll();
    await insertAll(ours, clock, [current]);
    // LRU order is w1 w2 w3 o1 o2 cur; the worker's are pinned, so o1 and o2 go.
    expect(await ours.trim()).toEqual({ items: 2, bytes: 20 });
    for (const b of [...theirs, current]) expect(await exists(ours.pathOf(b.digest))).toBe(true);

    worker.kill();
    await worker.exited();
    ours.unpinAll();
    const strict = await openCache(dir, { maxBytes: 0 }, clock);
    expect(await strict.trim()).toEqual({ items: 4, bytes: 40 });
    expect((await readdir(join(dir, "pins"))).filter((n) => n.startsWith(`${worker.pid}.`))).toEqual([]); // its pin file was cleaned up
  });

  test("inserting and trimming at the same time as this process loses no records", async () => {
    const dir = await tempDir();
    const worker = await startWorker(dir, 1_000);
    const clock = new ManualClock(1_000_000);
    const ours = await openCache(dir, {}, clock);
    const theirLabels = Array.from({ length: 20 }, (_, i) => `w${i}`);
    const mine = Array.from({ length: 20 }, (_, i) => blob(`m${i}`));
    const [inserted] = await Promise.all([worker.send(`insert ${theirLabels.join(" ")}`), insertAll(ours, clock, mine)]);
    expect(inserted).toMatchObject({ ok: true });
    const [trimmed] = await Promise.all([worker.send("trim"), ours.trim()]);
    expect(trimmed).toMatchObject({ ok: true });
    expect(await worker.send("close")).toMatchObject({ ok: true });
    await ours.close();

    const state = await persistedState(dir);
    for (const b of [...theirLabels.map((l) => blob(l)), ...mine]) {
      expect(state.get(b.digest.hash)?.mtimeMs).toBeNumber();
      expect(await exists(join(dir, b.digest.hash))).toBe(true);
    }
    expect(state.size).toBe(40);
    expect(await readdir(join(dir, "tmp"))).toEqual([]);
  });
});

describe("LocalCache lookupMany", () => {
  test("answers like lookup for each digest, pinning the hits and counting hits and misses", async () => {
    const dir = await tempDir();
    const cache = await openCache(dir);
    const present = [blob("one", 11), blob("two", 12)];
    for (const b of present) await cache.insert(b.digest, b.stream());
    await cache.close();
    // No room at all: only pins can keep anything.
    const again = await openCache(dir, { maxBytes: 0 });
    const absent = blob("absent", 13);
    const found = await again.lookupMany([present[0]!.digest, absent.digest, present[1]!.digest]);
    expect(found).toEqual([again.pathOf(present[0]!.digest), null, again.pathOf(present[1]!.digest)]);
    expect(again.stats).toMatchObject({ hitItems: 2, hitBytes: 23, missItems: 1, missBytes: 13 });
    // Pinned: a trim to zero bytes cannot take them, and says so.
    await expect(again.trim()).rejects.toThrow();
    expect(await again.lookup(present[0]!.digest)).toBe(again.pathOf(present[0]!.digest));
    expect(await again.lookup(present[1]!.digest)).toBe(again.pathOf(present[1]!.digest));
  });
});
