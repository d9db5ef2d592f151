import { closeSync, ftruncateSync, openSync, unlinkSync, writeSync } from "node:fs";
import { link, open, readdir, readFile, rename, stat, unlink } from "node:fs/promises";
import { hostname } from "node:os";
import { join } from "node:path";
import { DtError, errnoCode } from "../../common/errors.ts";
import { isHash } from "../digest.ts";

/*
 * Coordination between the processes sharing a cache directory: an
 * exclusive lock for the shared state file, and per-instance pin files,
 * which are shared holds on single blobs. Both name their owner's pid, so
 * what a dead process left behind is recognised and ignored.
 */

/** Options of the exclusive lock, a file created with O_EXCL (Bun has no flock). */
export interface FileLockOptions {
  /**
   * A lock older than this is broken even if its pid looks alive: the pid
   * may have been reused, or the holder may be hung. Holders keep the lock
   * only for a read-merge-write of the cache state or one trim (renames and
   * unlinks of victims); 5 minutes is far above that even for 100k evictions
   * on a slow disk, yet short enough that a wedged holder costs a slave
   * minutes, not its day.
   */
  staleMs?: number;
  /** Give up waiting after this long. Default: staleMs plus 30 s, so that a waiter outlives a stale holder and breaks its lock. */
  timeoutMs?: number;
}

/** What the lock file holds. */
export interface LockRecord {
  pid: number;
  /** Pids are only comparable on one host; on another host's lock only the age counts. */
  host: string;
  /** Tells this acquisition apart from another one by the same pid (two caches in one process). */
  token: string;
  /** Wall-clock time (Date.now): it is compared across processes, so not the injected Clock. */
  acquiredAtMs: number;
}

export const DEFAULT_LOCK_STALE_MS = 5 * 60_000;
/**
 * Pauses between tries. Holders usually keep the lock for a few ms (one
 * state read-merge-write), so waiters start at 1 ms and never wait more
 * than 20 ms, where a poll (one failed open, one read) costs nothing.
 */
const FIRST_BACKOFF_MS = 1;
const MAX_BACKOFF_MS = 20;

/** True unless `pid` certainly names no running process (EPERM means it runs as another user). */
export function isProcessAlive(pid: number): boolean {
  if (!Number.isSafeInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return errnoCode(err) === "EPERM";
  }
}

/** A token unique to one acquisition, usable in file names. */
export function randomToken(): string {
  return crypto.randomUUID().replaceAll("-", "").slice(0, 16);
}

/**
 * Runs `fn` while holding the lock at `lockPath`; releases it however `fn` ends.
 *
 * @example
 *   const merged = await withFileLock(join(dir, "state.lock"), {}, () => readMergeWrite(dir));
 */
export async function withFileLock<T>(lockPath: string, options: FileLockOptions, fn: () => Promise<T>): Promise<T> {
  const release = await acquireFileLock(lockPath, options);
  try {
    return await fn();
  } finally {
    await release();
  }
}

/** Takes the lock, waiting (with backoff) while a live, fresh holder has it. Returns the release function. */
export async function acquireFileLock(lockPath: string, options: FileLockOptions = {}): Promise<() => Promise<void>> {
  const staleMs = options.staleMs ?? DEFAULT_LOCK_STALE_MS;
  const deadline = Date.now() + (options.timeoutMs ?? staleMs + 30_000);
  const mine: LockRecord = { pid: process.pid, host: hostname(), token: randomToken(), acquiredAtMs: 0 };
  let backoffMs = FIRST_BACKOFF_MS;
  for (;;) {
    mine.acquiredAtMs = Date.now();
    if (await tryCreate(lockPath, mine)) return () => releaseFileLock(lockPath, mine.token);
    const holder = await readHolder(lockPath);
    if (holder === "gone") continue; // released between our create and our read: try again at once
    if (isStale(holder, staleMs)) {
      await breakStaleLock(lockPath, holder);
      continue;
    }
    if (Date.now() >= deadline) {
      throw new DtError(
        "internal",
        `timed out waiting for the cache lock ${lockPath}, held by pid ${holder.record?.pid ?? "?"} on ${holder.record?.host ?? "?"} ` +
          `since ${new Date(holder.record?.acquiredAtMs ?? holder.mtimeMs).toISOString()}; ` +
          `if no dt process uses this cache, delete the lock file`,
      );
    }
    await Bun.sleep(backoffMs * (0.5 + Math.random())); // jitter, so waiters do not retry in lockstep
    backoffMs = Math.min(backoffMs * 2, MAX_BACKOFF_MS);
  }
}

async function tryCreate(lockPath: string, record: LockRecord): Promise<boolean> {
  let handle;
  try {
    handle = await open(lockPath, "wx", 0o644);
  } catch (err) {
    if (errnoCode(err) === "EEXIST") return false;
    throw new DtError("internal", `cannot create the cache lock ${lockPath}: ${(err as Error).message}`, { cause: err });
  }
  try {
    await handle.writeFile(JSON.stringify(record));
  } finally {
    await handle.close();
  }
  return true;
}

interface Holder {
  /** Null while the holder is between creating the file and writing it, or if it is garbage. */
  record: LockRecord | null;
  mtimeMs: number;
  /** The raw bytes, to recognise the very same lock after renaming it away. */
  text: string;
}

async function readHolder(lockPath: string): Promise<Holder | "gone"> {
  try {
    const [text, info] = await Promise.all([readFile(lockPath, "utf8"), stat(lockPath)]);
    return { record: parseRecord(text), mtimeMs: info.mtimeMs, text };
  } catch (err) {
    if (errnoCode(err) === "ENOENT") return "gone";
    throw err;
  }
}

function parseRecord(text: string): LockRecord | null {
  try {
    const v = JSON.parse(text) as Partial<LockRecord>;
    if (typeof v.pid === "number" && typeof v.host === "string" && typeof v.token === "string" && typeof v.acquiredAtMs === "number") {
      return v as LockRecord;
    }
  } catch {
    // fall through: unreadable
  }
  return null;
}

function isStale(holder: Holder, staleMs: number): boolean {
  const now = Date.now();
  if (!holder.record) return now - holder.mtimeMs > staleMs; // a file this old is never going to be completed
  if (now - holder.record.acquiredAtMs > staleMs) return true;
  return holder.record.host === hostname() && !isProcessAlive(holder.record.pid);
}

/**
 * Removes a lock judged stale without ever removing a different, fresh one:
 * rename is atomic, so we take whatever is at lockPath, then check it is the
 * lock we judged. If another waiter broke the stale lock first and a new
 * holder took it in between, we put that lock back with link(), which
 * fails rather than overwrite if yet another process took the path
 * meanwhile. That last window (two holders) is a few syscalls wide and only
 * opens when a holder died; the cache stays safe even then, because pins are
 * rechecked after every eviction (see evictFiles), so at worst one process's
 * LRU updates are lost.
 */
async function breakStaleLock(lockPath: string, judged: Holder): Promise<void> {
  const aside = `${lockPath}.stale-${randomToken()}`;
  try {
    await rename(lockPath, aside);
  } catch (err) {
    if (errnoCode(err) === "ENOENT") return; // someone else broke or released it
    throw err;
  }
  const taken = await readFile(aside, "utf8").catch(() => null);
  if (taken !== judged.text) {
    await link(aside, lockPath).catch((err) => {
      if (errnoCode(err) !== "EEXIST") throw err;
    });
  }
  await unlink(aside).catch(() => {});
}

/** Removes the lock only if it is still ours (it may have been broken as stale). */
async function releaseFileLock(lockPath: string, token: string): Promise<void> {
  const holder = await readHolder(lockPath);
  if (holder !== "gone" && holder.record?.token === token) {
    await unlink(lockPath).catch((err) => {
      if (errnoCode(err) !== "ENOENT") throw err;
    });
  }
}

/** The pid that owns a `<pid>.<token>…` file name (pin and temp files), or null. */
export function ownerPid(name: string): number | null {
  const m = /^(\d+)\./.exec(name);
  return m ? Number(m[1]) : null;
}

/**
 * Hashes pinned by every live instance except the one owning `ownFile`.
 * Pin files of dead pids are removed on the way.
 */
export async function readOthersPins(pinsDir: string, ownFile: string): Promise<Set<string>> {
  const pins = new Set<string>();
  for (const name of await readdir(pinsDir)) {
    if (name === ownFile) continue;
    const pid = ownerPid(name);
    if (pid === null || !isProcessAlive(pid)) {
      await unlink(join(pinsDir, name)).catch(() => {});
      continue;
    }
    const text = await readFile(join(pinsDir, name), "utf8").catch((err) => {
      if (errnoCode(err) === "ENOENT") return ""; // closed meanwhile
      throw err;
    });
    // A line still being appended is cut short and fails isHash; see LocalCache.evictFiles for why that is safe.
    for (const line of text.split("\n")) if (isHash(line)) pins.add(line);
  }
  return pins;
}

/**
 * One instance's pin file. Written synchronously: each pin is one small
 * O_APPEND write that other processes must be able to read before the
 * pinned file is looked at, and unpinAll() is synchronous by contract.
 */
export class PinFile {
  private fd: number | null;
  private constructor(readonly path: string, readonly name: string, fd: number) {
    this.fd = fd;
  }

  /** `name` must start with `<pid>.` so other processes can tell when this one died. */
  static create(pinsDir: string, name: string): PinFile {
    const path = join(pinsDir, name);
    return new PinFile(path, name, openSync(path, "a", 0o644));
  }

  add(hash: string): void {
    this.addMany([hash]);
  }

  /** One write for all: a tree's worth of pins costs one syscall. */
  addMany(hashes: readonly string[]): void {
    if (this.fd !== null && hashes.length > 0) writeSync(this.fd, `${hashes.join("\n")}\n`);
  }

  clear(): void {
    if (this.fd !== null) ftruncateSync(this.fd, 0);
  }

  close(): void {
    if (this.fd === null) return;
    closeSync(this.fd);
    this.fd = null;
    try {
      unlinkSync(this.path);
    } catch (err) {
      if (errnoCode(err) !== "ENOENT") throw err;
    }
  }
}
