import { chmod, link, mkdir, rename, stat, unlink } from "node:fs/promises";
import { diskSizeBytes, freeDiskBytes } from "../../common/disk.ts";
import { chmodSync, closeSync, constants, openSync, renameSync, statSync, unlinkSync, utimesSync, writeFileSync, writeSync } from "node:fs";
import { join } from "node:path";
import type { Clock } from "../../common/clock.ts";
import { DtError, errnoCode } from "../../common/errors.ts";
import { loopTurns } from "../../common/turns.ts";
import { formatBytes } from "../../common/units.ts";
import { checkBytesMatch, checkHash, checkSize, digestOfFile, formatDigest, verifyingStream, type Digest } from "../digest.ts";
import { PinFile, randomToken, readOthersPins, withFileLock, type FileLockOptions } from "./lock.ts";
import { LOCK_FILE, PINS_DIR, Records, TMP_DIR, type ItemRecord } from "./state.ts";

/** Bounds a cache keeps to when trimmed. */
export interface CacheLimits {
  /** Total size of cached blobs, in bytes. */
  maxBytes: number;
  /** Number of cached blobs; bounds the state file and directory size. */
  maxItems: number;
  /** Bytes to leave free on the cache's filesystem, so tests and logs can still write. */
  minFreeBytes: number;
}

/** run_isolated's defaults (--max-cache-size 50 GiB, --max-items 100000, --min-free-space 2 GiB); slaves have used them for years. */
export const DEFAULT_CACHE_LIMITS: CacheLimits = { maxBytes: 50 * 2 ** 30, maxItems: 100_000, minFreeBytes: 2 * 2 ** 30 };

/** What one cache instance did since it was opened. */
export interface CacheStats {
  hitItems: number;
  hitBytes: number;
  missItems: number;
  missBytes: number;
  evictedItems: number;
  evictedBytes: number;
}

/** Seams for tests and unusual hosts. */
export interface LocalCacheOptions {
  /** Free bytes on the cache's filesystem; default: statfs (blocks available to unprivileged users). */
  freeBytes?: (dir: string) => Promise<number>;
  /** Size of the cache's filesystem (unprivileged); default: statfs. */
  diskBytes?: (dir: string) => Promise<number>;
  lock?: FileLockOptions;
}

/** One cached blob as the persisted LRU sees it. */
export interface CacheEntry {
  hash: string;
  size: number;
  lastUseMs: number;
}

/**
 * Files are backdated by this much at insert, so that any later write
 * (even one within the filesystem's timestamp granularity: the kernel's
 * coarse clock ticks every few ms, some filesystems keep whole seconds)
 * moves the mtime away from the recorded one.
 */
const MTIME_BACKDATE_MS = 2_000;
/**
 * A streamed blob is appended in pieces of about this size: few enough
 * syscalls, and one synchronous write short enough (well under a
 * millisecond into the page cache) not to hold up the event loop.
 */
const APPEND_BYTES = 1 << 20;
/**
 * During an insert the event loop gets a turn at least this often. A body
 * that is ahead of the disk (a fast CAS, a slow disk, a blob already in
 * memory) hands out chunks without a macrotask between them, and the
 * synchronous appends then held the loop for the whole blob: 0.8 s for
 * 300 MiB here, with the slave's heartbeats and log forwarding behind it.
 */
const TURN_EVERY_MS = 10;

/**
 * The local content cache of blobs fetched from the CAS: one flat directory
 * of files named by hash, shared safely by several processes (slaves,
 * run-isolated). See state.ts for the layout.
 *
 * Every path this returns is pinned for this instance: no instance, in this
 * process or another live one, evicts it until unpinAll() or close(). A path
 * can still vanish under a caller in one race: another process picked the
 * item for eviction while it was unpinned and this instance pinned it in the
 * middle of that eviction. The other process then puts it back at once, but
 * a caller that finds the path missing should look it up again or re-fetch.
 *
 * @example
 *   const cache = await LocalCache.open(dir, DEFAULT_CACHE_LIMITS, systemClock);
 *   const path = (await cache.lookup(d)) ?? (await cache.insert(d, await fetchBlob(d)));
 *   // hardlink `path` into the run dir, run the test, then:
 *   await cache.trim();
 *   await cache.close();
 */
export class LocalCache {
  /** Counters for this instance; run-isolated reports them as items_hot/items_cold. */
  readonly stats: CacheStats = { hitItems: 0, hitBytes: 0, missItems: 0, missBytes: 0, evictedItems: 0, evictedBytes: 0 };
  private readonly pinned = new Set<string>();
  private tempCounter = 0;
  private closed = false;

  private constructor(
    readonly dir: string,
    private readonly limits: CacheLimits,
    private readonly clock: Clock,
    private readonly options: LocalCacheOptions,
    /** `<pid>.<token>`: prefixes this instance's temp and pin files, so others can tell when it died. */
    private readonly owner: string,
    private readonly pinFile: PinFile,
    private readonly records: Records,
  ) {}

  /** Opens (creating if needed) the cache in `dir` and reconciles its state with the files present. */
  static async open(dir: string, limits: CacheLimits, clock: Clock, options: LocalCacheOptions = {}): Promise<LocalCache> {
    await mkdir(join(dir, PINS_DIR), { recursive: true });
    await mkdir(join(dir, TMP_DIR), { recursive: true });
    const owner = `${process.pid}.${randomToken()}`;
    const records = await withFileLock(join(dir, LOCK_FILE), options.lock ?? {}, () => Records.load(dir, owner));
    const pinFile = PinFile.create(join(dir, PINS_DIR), `${owner}.pins`);
    return new LocalCache(dir, limits, clock, options, owner, pinFile, records);
  }

  /** Where the blob lives, whether or not it is present. */
  pathOf(d: Digest): string {
    return join(this.dir, checkHash(d.hash, "digest.hash"));
  }

  /**
   * Path of the intact cached file for `d`, or null; pins it and marks it
   * used now. A file of the wrong size is deleted. A file whose mtime is not
   * the recorded one (written through a hardlink, or inserted by another
   * process since we read the state) is rehashed, kept if intact and deleted
   * if not.
   */
  async lookup(d: Digest): Promise<string | null> {
    return (await this.lookupMany([d]))[0]!;
  }

  /**
   * `lookup` for many digests at once (a whole tree): one write pins them
   * all, and an intact file costs one synchronous stat, so a warm tree of
   * 10,000 files is checked in a fraction of the time of 10,000 lookups.
   */
  async lookupMany(digests: readonly Digest[]): Promise<(string | null)[]> {
    this.assertOpen();
    const paths = digests.map((d) => this.pathOf(d));
    this.pinMany(digests.map((d) => d.hash)); // before looking at the files: see evictFiles
    const found: (string | null)[] = [];
    for (const [i, d] of digests.entries()) {
      const record = this.intactRecord(d, paths[i]!) ?? (await this.verify(d, paths[i]!));
      if (record) {
        this.records.use(d.hash, record, this.clock.now());
        this.stats.hitItems++;
        this.stats.hitBytes += d.size;
        found.push(paths[i]!);
      } else {
        this.stats.missItems++;
        this.stats.missBytes += d.size;
        found.push(null);
      }
    }
    return found;
  }

  /** The record when the file is exactly as recorded; undefined sends the caller to the full verify. */
  private intactRecord(d: Digest, path: string): ItemRecord | undefined {
    const record = this.records.get(d.hash);
    if (!record || record.size !== d.size) return undefined;
    let info;
    try {
      info = statSync(path);
    } catch {
      return undefined;
    }
    return info.isFile() && info.size === d.size && info.mtimeMs === record.mtimeMs ? record : undefined;
  }

  /**
   * Streams `body` into the cache, verifying it against `d` as it flows, and
   * returns the pinned path. Throws digest_mismatch (leaving nothing behind)
   * if the body is not `d`. Another process inserting the same digest at the
   * same time is fine: both renames put identical bytes in place.
   *
   * The file is never open across an await: each piece is appended by an
   * open, write and close in one synchronous step. A blob may be an
   * executable that is run the moment it is in place, and Bun spawns with
   * vfork, so a command spawned (by another slot) while a write descriptor
   * is open gets a copy of it. O_CLOEXEC closes that copy, but only after
   * Linux has already let this process run on (the vfork parent wakes at
   * exec_mmap, before do_close_on_exec), and a child preempted in between
   * on a busy machine still holds the blob open for writing when this
   * process renames, links and execs it: ETXTBSY, "text file is busy".
   * Spawns happen on this same thread, so no child can copy a descriptor
   * that lives only within one synchronous step.
   */
  async insert(d: Digest, body: ReadableStream<Uint8Array>): Promise<string> {
    this.assertOpen();
    const path = this.pathOf(d);
    checkSize(d.size, "digest.size");
    this.pin(d.hash); // before the file appears, so no trim elsewhere takes it
    const temp = join(this.dir, TMP_DIR, `${this.owner}.${++this.tempCounter}.part`);
    let mtimeMs: number;
    try {
      closeSync(openSync(temp, "wx", 0o600));
      let pending: Uint8Array[] = [];
      let pendingBytes = 0;
      const turn = loopTurns(TURN_EVERY_MS);
      for await (const chunk of verifyingStream(body, d, `cache insert of ${formatDigest(d)}`)) {
        // A huge chunk is cut into pieces too, so no one synchronous write holds the loop for long.
        for (let offset = 0; offset < chunk.byteLength; ) {
          const piece = chunk.subarray(offset, offset + APPEND_BYTES - pendingBytes);
          pending.push(piece);
          pendingBytes += piece.byteLength;
          offset += piece.byteLength;
          if (pendingBytes < APPEND_BYTES) continue;
          appendSync(temp, pending);
          pending = [];
          pendingBytes = 0;
          // No descriptor is open here: appendSync closed it.
          await turn();
        }
      }
      appendSync(temp, pending);
      // 0o555, not isolate's 0o400: files are hardlinked into test trees, and executables must stay runnable.
      chmodSync(temp, 0o555);
      const backdated = new Date(Date.now() - MTIME_BACKDATE_MS);
      utimesSync(temp, backdated, backdated);
      mtimeMs = statSync(temp).mtimeMs;
      await rename(temp, path);
    } catch (err) {
      await body.cancel().catch(() => {}); // if we failed before reading it; a stream being read rejects this
      await unlink(temp).catch(() => {});
      if (errnoCode(err) === "ENOSPC") {
        throw new DtError("no_space", `the filesystem of cache ${this.dir} is full while storing ${formatDigest(d)}; free space or lower the cache size limit`, { cause: err });
      }
      throw err;
    }
    this.records.use(d.hash, { size: d.size, lastUseMs: 0, mtimeMs }, this.clock.now());
    return path;
  }

  /**
   * Stores a blob already in memory (one entry of a batch download), verified
   * first. Synchronous file calls on purpose: for thousands of small blobs a
   * promise per syscall costs more than the syscalls. Same contract as insert.
   */
  insertBytes(d: Digest, bytes: Uint8Array): string {
    this.assertOpen();
    const path = this.pathOf(d);
    checkBytesMatch(bytes, d, "cache insert");
    this.pin(d.hash); // before the file appears, so no trim elsewhere takes it
    const temp = join(this.dir, TMP_DIR, `${this.owner}.${++this.tempCounter}.part`);
    let mtimeMs: number;
    try {
      writeFileSync(temp, bytes, { mode: 0o555, flag: "wx" });
      const backdated = new Date(Date.now() - MTIME_BACKDATE_MS);
      utimesSync(temp, backdated, backdated);
      mtimeMs = statSync(temp).mtimeMs;
      renameSync(temp, path);
    } catch (err) {
      try {
        unlinkSync(temp);
      } catch {
        // never created
      }
      if (errnoCode(err) === "ENOSPC") {
        throw new DtError("no_space", `the filesystem of cache ${this.dir} is full while storing ${formatDigest(d)}; free space or lower the cache size limit`, { cause: err });
      }
      throw err;
    }
    this.records.use(d.hash, { size: d.size, lastUseMs: 0, mtimeMs }, this.clock.now());
    return path;
  }

  /**
   * Evicts least recently used unpinned items until the limits hold, merging
   * with and persisting the shared state. Throws no_space if the pinned items
   * alone exceed maxBytes or free space cannot be reached; exceeding maxItems
   * with pinned items is tolerated, as a count costs no disk.
   */
  async trim(): Promise<{ items: number; bytes: number }> {
    this.assertOpen();
    return withFileLock(join(this.dir, LOCK_FILE), this.options.lock ?? {}, async () => {
      const before = { items: this.stats.evictedItems, bytes: this.stats.evictedBytes };
      await this.records.mergeAndSave(this.owner);
      const { maxBytes, maxItems, minFreeBytes } = this.limits;
      let pins = await this.allPins();
      let bytes = this.records.totalBytes();
      let count = this.records.count;
      const victims: string[] = [];
      for (const [hash, record] of this.records.lruOrder()) {
        if (bytes <= maxBytes && count <= maxItems) break;
        if (pins.has(hash)) continue;
        victims.push(hash);
        bytes -= record.size;
        count--;
      }
      await this.evictFiles(victims);

      // Evicting frees less than the blobs' sizes when they are also hardlinked
      // into run dirs, so measure again after each batch instead of predicting.
      const tried = new Set<string>();
      let free: number;
      while ((free = await this.freeBytes()) < minFreeBytes) {
        pins = await this.allPins();
        const batch: string[] = [];
        let batchBytes = 0;
        for (const [hash, record] of this.records.lruOrder()) {
          if (batchBytes >= minFreeBytes - free) break;
          if (pins.has(hash) || tried.has(hash)) continue;
          batch.push(hash);
          tried.add(hash);
          batchBytes += record.size;
        }
        if (batch.length === 0) {
          await this.records.save(this.owner);
          throw new DtError("no_space", `cache ${this.dir}: only ${formatBytes(free)} free on its filesystem, below minFreeBytes ${formatBytes(minFreeBytes)}, and every remaining cached item is in use; free disk space or lower the minimum free space`);
        }
        await this.evictFiles(batch);
      }
      await this.records.save(this.owner);
      const pinnedBytes = this.records.totalBytes();
      if (pinnedBytes > maxBytes) {
        throw new DtError("no_space", `cache ${this.dir}: items in use take ${formatBytes(pinnedBytes)} (${this.records.count} files), more than maxBytes ${formatBytes(maxBytes)}; raise the cache size limit or run fewer tasks at once`);
      }
      return { items: this.stats.evictedItems - before.items, bytes: this.stats.evictedBytes - before.bytes };
    });
  }

  /**
   * The most this cache can hold at once: its size limit, or the size of its
   * filesystem when that is smaller. A tree bigger than this cannot be
   * fetched here however much is evicted; `bound` says which limit it is.
   */
  async capacity(): Promise<{ bytes: number; bound: "limit" | "disk" }> {
    const disk = await (this.options.diskBytes ?? diskSizeBytes)(this.dir);
    return disk < this.limits.maxBytes ? { bytes: disk, bound: "disk" } : { bytes: this.limits.maxBytes, bound: "limit" };
  }

  /** Persists the LRU state (merged with what other processes wrote since) and releases this instance's pins. */
  async close(): Promise<void> {
    if (this.closed) return;
    try {
      await withFileLock(join(this.dir, LOCK_FILE), this.options.lock ?? {}, () => this.records.mergeAndSave(this.owner));
    } finally {
      this.closed = true;
      this.pinned.clear();
      this.pinFile.close();
    }
  }

  /** Releases every pin of this instance (e.g. when a task's run dir is gone); paths stay valid until some trim evicts them. */
  unpinAll(): void {
    this.pinned.clear();
    this.pinFile.clear();
  }

  /** The records as this instance knows them, least recently used first. */
  entries(): CacheEntry[] {
    return this.records.lruOrder().map(([hash, r]) => ({ hash, size: r.size, lastUseMs: r.lastUseMs }));
  }

  private assertOpen(): void {
    if (this.closed) throw new DtError("internal", `local cache ${this.dir} is used after close()`);
  }

  private pin(hash: string): void {
    this.pinMany([hash]);
  }

  private pinMany(hashes: readonly string[]): void {
    const fresh = hashes.filter((h) => !this.pinned.has(h));
    for (const h of fresh) this.pinned.add(h);
    if (fresh.length > 0) this.pinFile.addMany(fresh);
  }

  /**
   * The record of the file at `path` if that file is `d` (rehashing it if
   * its mtime is not the recorded one); null if absent or not `d`, in which
   * case a wrong file is deleted.
   */
  private async verify(d: Digest, path: string): Promise<ItemRecord | null> {
    const info = await stat(path).catch(ignoreEnoent);
    if (!info) {
      this.records.forget(d.hash);
      return null;
    }
    if (!info.isFile()) return null; // dt never makes anything else under a hash name; not ours to delete
    const record = this.records.get(d.hash);
    if (info.size === d.size && record?.size === d.size && record.mtimeMs === info.mtimeMs) return record;
    if (info.size !== d.size || !(await sameDigest(path, d))) {
      await removeIfSameInode(path, info.ino, join(this.dir, TMP_DIR, `${this.owner}.${++this.tempCounter}.bad`));
      this.records.forget(d.hash);
      return null;
    }
    const after = await stat(path).catch(ignoreEnoent);
    if (after === null || after.ino !== info.ino || after.mtimeMs !== info.mtimeMs) {
      return null; // written or replaced while we hashed it: not verified, and not ours to delete
    }
    // A writer may have left it writable; the inode is shared with run dirs, which should see 0o555 too.
    if ((info.mode & 0o777) !== 0o555) await chmod(path, 0o555).catch(() => {});
    return { size: d.size, lastUseMs: record?.lastUseMs ?? 0, mtimeMs: info.mtimeMs };
  }

  /**
   * Removes the given blobs without ever removing one a live instance has
   * pinned. Pins are written without the lock (lookup is the hot path), so a
   * pin may land after the caller read the pins. Hence: move each victim
   * aside, read the pins again, and link back any that got pinned. A pinner
   * writes its pin and then looks at the file: if its pin was in time for
   * the second read, the file comes back; if not, the file was already
   * moved when it looked, so it reports a miss. Either way nobody is handed
   * a path that is then deleted.
   */
  private async evictFiles(hashes: string[]): Promise<void> {
    const asides: Array<[string, string]> = [];
    for (const hash of hashes) {
      const aside = join(this.dir, TMP_DIR, `${this.owner}.${++this.tempCounter}.evicting`);
      try {
        await rename(join(this.dir, hash), aside);
        asides.push([hash, aside]);
      } catch (err) {
        if (errnoCode(err) !== "ENOENT") throw err;
        this.records.forget(hash); // another process evicted it already
      }
    }
    const pinsNow = await this.allPins();
    for (const [hash, aside] of asides) {
      if (pinsNow.has(hash)) {
        // EEXIST: someone inserted it afresh meanwhile; theirs stays.
        await link(aside, join(this.dir, hash)).catch((err) => {
          if (errnoCode(err) !== "EEXIST") throw err;
        });
      } else {
        this.stats.evictedItems++;
        this.stats.evictedBytes += this.records.get(hash)?.size ?? 0;
        this.records.forget(hash);
      }
      await unlink(aside);
    }
  }

  private async allPins(): Promise<Set<string>> {
    const pins = await readOthersPins(join(this.dir, PINS_DIR), this.pinFile.name);
    for (const hash of this.pinned) pins.add(hash);
    return pins;
  }

  private async freeBytes(): Promise<number> {
    return (this.options.freeBytes ?? freeDiskBytes)(this.dir);
  }
}

/**
 * Appends `chunks` to the existing file `path` and closes it, all in one
 * synchronous step (see insert for why). Without O_CREAT: a temp file that
 * vanished must fail the insert, not be restarted half-written.
 */
function appendSync(path: string, chunks: readonly Uint8Array[]): void {
  if (chunks.length === 0) return;
  const fd = openSync(path, constants.O_WRONLY | constants.O_APPEND);
  try {
    for (const chunk of chunks) {
      for (let offset = 0; offset < chunk.byteLength; ) offset += writeSync(fd, chunk, offset, chunk.byteLength - offset);
    }
  } finally {
    closeSync(fd);
  }
}

async function sameDigest(path: string, d: Digest): Promise<boolean> {
  const actual = await digestOfFile(path).catch(ignoreEnoent);
  return actual !== null && actual.hash === d.hash && actual.size === d.size;
}

function ignoreEnoent(err: unknown): null {
  if (errnoCode(err) === "ENOENT") return null;
  throw err;
}

/** Deletes `path` only if it is still the inode we judged: another process may have just renamed a good copy over it. */
async function removeIfSameInode(path: string, ino: number, aside: string): Promise<void> {
  try {
    await rename(path, aside);
  } catch (err) {
    if (errnoCode(err) === "ENOENT") return;
    throw err;
  }
  const moved = await stat(aside);
  if (moved.ino !== ino) {
    await link(aside, path).catch((err) => {
      if (errnoCode(err) !== "EEXIST") throw err;
    });
  }
  await unlink(aside);
}
