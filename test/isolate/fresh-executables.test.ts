/**
 * ETXTBSY: an executable fetched cold into the cache and run at once must
 * never be "text file busy". Many executables are fetched concurrently
 * from a real CAS through the cache's streaming insert (the path of every
 * blob of 1 MiB or more, such as a googletest binary), hardlinked as
 * run-isolated maps them, and run with execute(), while other commands are
 * spawned all the time (the other slots) and every core is kept busy.
 *
 * The cause it guards against: Bun spawns with vfork, so a child gets a
 * copy of every descriptor open at that moment, the write descriptor of a
 * blob being downloaded included. O_CLOEXEC closes the copy, but Linux lets
 * the vfork parent run on at exec_mmap(), before the child reaches
 * do_close_on_exec(); on a busy machine the child can wait there for
 * milliseconds, long enough for the parent to finish the blob, rename it
 * into the cache, link it and exec it while the child still holds it open
 * for writing. Measured before the fix, with 200 executables and 8 other
 * slots: 4, 14 and 8 spawns of 200 failed in three runs.
 *
 * That failure needs the scheduler's help, so the test also checks its
 * cause directly: at every spawn, no descriptor of this process is open
 * for writing on a blob or a blob being written. Before the fix nearly
 * every spawn during a download saw one.
 */
import { afterEach, describe, expect, test } from "bun:test";
import { linkSync, mkdirSync, readdirSync, readFileSync, readlinkSync } from "node:fs";
import { availableParallelism } from "node:os";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { systemClock } from "../../src/common/clock.ts";
import { mapLimit } from "../../src/common/concurrency.ts";
import { LocalCache } from "../../src/isolate/cache/local-cache.ts";
import { SMALL_BLOB_BYTES } from "../../src/isolate/cas/batch.ts";
import { CasClient } from "../../src/isolate/cas/client.ts";
import { digestOfBytes } from "../../src/isolate/digest.ts";
import { execute } from "../../src/isolate/run/execute.ts";
import { fetchOne } from "../../src/isolate/run/fetch.ts";
import { startCas, type TestCas } from "../helpers/cas.ts";
import { TempDirs } from "../helpers/temp.ts";

/** Executables fetched and run. */
const EXECUTABLES = 50;
/** Fetches and runs at once, as a slave's slots and its fetch concurrency would. */
const CONCURRENT = 8;
/** Slots spawning other commands meanwhile. */
const OTHER_SLOTS = 4;
/** Blobs of this size and up are streamed into the cache (smaller ones come in batches), as a googletest binary is. */
const SCRIPT_BYTES = SMALL_BLOB_BYTES;

const temps = new TempDirs();
const hogs: Subprocess[] = [];
let cas: TestCas | undefined;
let cache: LocalCache | undefined;
afterEach(async () => {
  for (const hog of hogs.splice(0)) hog.kill("SIGKILL");
  await cache?.close();
  await cas?.stop();
  cache = cas = undefined;
  await temps.cleanup();
});

const env = { PATH: process.env.PATH ?? "/usr/bin:/bin" };

/** A distinct shell script that exits 0, padded with a comment. */
function script(i: number): Uint8Array {
  const head = `#!/bin/sh\n# executable ${i}\nexit 0\n`;
  return new TextEncoder().encode(head + "#".repeat(SCRIPT_BYTES - head.length - 1) + "\n");
}

/**
 * Paths under `cacheDir` (blobs and blobs being written; not the pin and
 * lock files) that this process holds open for writing now: what a child
 * spawned at this moment would get a copy of.
 */
function writableBlobFds(cacheDir: string): string[] {
  const found: string[] = [];
  for (const fd of readdirSync("/proc/self/fd")) {
    let target: string;
    let flags: number;
    try {
      target = readlinkSync(`/proc/self/fd/${fd}`);
      if (!target.startsWith(`${cacheDir}/`) || /\/(pins|state)/.test(target.slice(cacheDir.length))) continue;
      flags = Number.parseInt(/^flags:\s+(\d+)/m.exec(readFileSync(`/proc/self/fdinfo/${fd}`, "utf8"))![1]!, 8);
    } catch {
      continue; // closed meanwhile
    }
    // O_ACCMODE: O_WRONLY or O_RDWR.
    if ((flags & 3) !== 0) found.push(target);
  }
  return found;
}

describe("a freshly fetched executable", () => {
  test(`${EXECUTABLES} executables fetched cold and run at once, while other commands spawn on a busy machine: no spawn beside an open blob, none text-file busy`, async () => {
    const dir = await temps.make("dt-etxtbsy-");
    cas = await startCas(join(dir, "cas"));
    const client = new CasClient(cas.url);
    const scripts = Array.from({ length: EXECUTABLES }, (_, i) => script(i));
    const digests = scripts.map((bytes) => digestOfBytes(bytes));
    await mapLimit(scripts, CONCURRENT, (bytes, i) => client.putBlob(digests[i]!, bytes));
    const cacheDir = join(dir, "cache");
    cache = await LocalCache.open(cacheDir, { maxBytes: 2 ** 40, maxItems: 1_000_000, minFreeBytes: 0 }, systemClock);
    // Checked in the same synchronous step as the spawn that follows it: what the check sees, the vfork copies.
    const spawnsBesideWrites: string[] = [];
    const checkBeforeSpawn = (what: string) => {
      const open = writableBlobFds(cacheDir);
      if (open.length > 0) spawnsBesideWrites.push(`${what} while ${open.length} blob(s) were open for writing`);
    };

    for (let i = 0; i < Math.max(2, availableParallelism()); i++) {
      hogs.push(Bun.spawn(["sh", "-c", "while :; do :; done"], { stdin: "ignore", stdout: "ignore", stderr: "ignore" }));
    }
    // The other slots: each spawns a command whenever its last one ended.
    let fetching = true;
    let otherSpawns = 0;
    const others = Promise.all(
      Array.from({ length: OTHER_SLOTS }, async (_, slot) => {
        const other = join(dir, `other-${slot}`);
        mkdirSync(other);
        while (fetching) {
          checkBeforeSpawn(`other slot ${slot}`);
          await execute({ command: ["true"], cwd: other, env, timeoutSec: 10, gracePeriodSec: 1, stdoutPath: join(other, "out"), stderrPath: join(other, "err") });
          otherSpawns++;
        }
      }),
    );

    const failures: string[] = [];
    try {
      await mapLimit(digests, CONCURRENT, async (d, i) => {
        const cached = await fetchOne(client, cache!, d);
        // As run-isolated maps a read-only tree: a hardlink to the cached inode.
        const runDir = join(dir, "runs", String(i));
        mkdirSync(runDir, { recursive: true });
        linkSync(cached, join(runDir, "test.sh"));
        try {
          checkBeforeSpawn(`executable ${i}`);
          const result = await execute({ command: ["./test.sh"], cwd: runDir, env, timeoutSec: 30, gracePeriodSec: 1, stdoutPath: join(runDir, "out"), stderrPath: join(runDir, "err") });
          if (result.exitCode !== 0) failures.push(`executable ${i} exited ${result.exitCode ?? result.signal}`);
        } catch (err) {
          failures.push(`executable ${i}: ${(err as Error).message}`);
        }
      });
    } finally {
      fetching = false;
      await others;
    }
    expect(otherSpawns).toBeGreaterThan(0);
    expect(spawnsBesideWrites.slice(0, 5)).toEqual([]);
    expect(failures).toEqual([]);
  }, 120_000);

  test("a blob whose body is ahead of the disk is inserted with turns for the event loop, and no blob is open for writing during any of them", async () => {
    const dir = await temps.make("dt-insert-turns-");
    const cacheDir = join(dir, "cache");
    cache = await LocalCache.open(cacheDir, { maxBytes: 2 ** 40, maxItems: 1_000_000, minFreeBytes: 0 }, systemClock);
    // 96 MiB already in memory, as a body from a fast CAS to a slower disk is: no chunk waits for the network.
    const bytes = new Uint8Array(96 * 2 ** 20);
    for (let i = 0; i < bytes.length; i += 4096) bytes[i] = i % 251;
    const chunk = 64 * 1024;
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        for (let offset = 0; offset < bytes.length; offset += chunk) controller.enqueue(bytes.subarray(offset, offset + chunk));
        controller.close();
      },
    });
    // A heartbeat's timer stands for everything else the slave does meanwhile; each turn also looks for an open blob, as a spawn then would copy it.
    let turns = 0;
    let last = performance.now();
    let longestMs = 0;
    const openDuringTurns: string[] = [];
    const timer = setInterval(() => {
      turns++;
      longestMs = Math.max(longestMs, performance.now() - last);
      last = performance.now();
      openDuringTurns.push(...writableBlobFds(cacheDir));
    }, 1);
    const started = performance.now();
    try {
      await cache.insert(digestOfBytes(bytes), body);
    } finally {
      clearInterval(timer);
    }
    const totalMs = performance.now() - started;
    longestMs = Math.max(longestMs, performance.now() - last);
    // Before, the synchronous appends ran back to back on the buffered chunks: not one turn, the whole insert one stall.
    // Now a turn comes every TURN_EVERY_MS (10 ms) or so; one per 50 ms on average leaves room for a loaded machine.
    expect(turns, `${turns} turns in ${totalMs.toFixed(0)} ms, the longest gap ${longestMs.toFixed(0)} ms`).toBeGreaterThanOrEqual(Math.max(3, totalMs / 50));
    expect(openDuringTurns.slice(0, 5)).toEqual([]);
  }, 60_000);
});
