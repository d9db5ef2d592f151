import { readdir, readFile, rename, stat, unlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { errnoCode } from "../../common/errors.ts";
import { isHash } from "../digest.ts";
import { isProcessAlive, ownerPid } from "./lock.ts";

/*
 * The LRU records of a local cache directory, persisted in `state.json`
 * and shared by every process using the directory.
 *
 * Layout of a cache directory:
 *   <hash>                    a blob, mode 0o555
 *   state.json                {"version":1,"items":[{hash,size,lastUseMs,mtimeMs},…]}, oldest use first
 *   state.lock                the lock that serialises state.json updates (lock.ts)
 *   pins/<pid>.<token>.pins   hashes pinned by one live cache instance, one per line (lock.ts)
 *   tmp/<pid>.<token>.…       blobs being written or evicted, state being written
 */

/** One cached blob's record. */
export interface ItemRecord {
  size: number;
  /** When it was last looked up or inserted, on the injected Clock; orders eviction. */
  lastUseMs: number;
  /**
   * The file's mtime as recorded at insert, so a later write through a
   * hardlink shows. Null for a file adopted on open and not yet verified:
   * lookup rehashes it before its first use.
   */
  mtimeMs: number | null;
}

export const STATE_FILE = "state.json";
export const LOCK_FILE = "state.lock";
export const PINS_DIR = "pins";
export const TMP_DIR = "tmp";
const STATE_VERSION = 1;

/**
 * Reads state.json. A missing or unreadable file (another version, a torn
 * disk) reads as empty: the blobs are then adopted unverified on open, so
 * the cost is only the LRU order, never a wrong blob.
 */
async function readState(dir: string): Promise<Map<string, ItemRecord>> {
  const items = new Map<string, ItemRecord>();
  let parsed: { version?: unknown; items?: unknown };
  try {
    parsed = JSON.parse(await readFile(join(dir, STATE_FILE), "utf8"));
  } catch (err) {
    if (errnoCode(err) === "ENOENT" || err instanceof SyntaxError) return items;
    throw err;
  }
  if (parsed?.version !== STATE_VERSION || !Array.isArray(parsed.items)) return items;
  for (const raw of parsed.items as Array<Record<string, unknown>>) {
    const { hash, size, lastUseMs, mtimeMs } = raw ?? {};
    if (isHash(hash) && typeof size === "number" && typeof lastUseMs === "number" && (typeof mtimeMs === "number" || mtimeMs === null)) {
      items.set(hash, { size, lastUseMs, mtimeMs });
    }
  }
  return items;
}

/** Writes state.json atomically (temp file, then rename), oldest use first. */
async function writeState(dir: string, items: Map<string, ItemRecord>, tmpPrefix: string): Promise<void> {
  const sorted = [...items].sort(byLastUse);
  const body = JSON.stringify({
    version: STATE_VERSION,
    items: sorted.map(([hash, r]) => ({ hash, size: r.size, lastUseMs: r.lastUseMs, mtimeMs: r.mtimeMs })),
  });
  const tmp = join(dir, TMP_DIR, `${tmpPrefix}.state`);
  await writeFile(tmp, body);
  await rename(tmp, join(dir, STATE_FILE));
}

/**
 * Merges two processes' records of one blob. The latest use wins; of two
 * recorded mtimes the later is more likely the file now in place (the last
 * insert renamed over the other), and if it is wrong, lookup rehashes.
 */
function mergeRecords(a: ItemRecord, b: ItemRecord): ItemRecord {
  const mtimeMs = a.mtimeMs === null ? b.mtimeMs : b.mtimeMs === null ? a.mtimeMs : Math.max(a.mtimeMs, b.mtimeMs);
  return { size: a.size, lastUseMs: Math.max(a.lastUseMs, b.lastUseMs), mtimeMs };
}

/**
 * Reconciles records with the files present, on open.
 *  - A record whose file is missing is dropped.
 *  - A hash-named file without a record is adopted unverified (mtimeMs
 *    null, oldest in LRU order) rather than hashed now or deleted: hashing
 *    every stray file on open can take minutes after a crash, deleting
 *    throws away blobs another live process inserted and has not yet
 *    persisted (or has pinned), and lookup rehashes an unverified file
 *    before serving it anyway, so adoption is the cheapest safe choice.
 *  - Files with other names are left alone: dt never makes them, and a
 *    mistyped --cache must not wipe someone's directory.
 *  - Temp and pin files of dead processes are removed.
 */
async function reconcileWithFiles(dir: string, items: Map<string, ItemRecord>): Promise<void> {
  const present = new Set<string>();
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    if (!isHash(entry.name) || !entry.isFile()) continue;
    present.add(entry.name);
    if (!items.has(entry.name)) {
      const info = await stat(join(dir, entry.name)).catch(() => null);
      if (info) items.set(entry.name, { size: info.size, lastUseMs: 0, mtimeMs: null });
      else present.delete(entry.name);
    }
  }
  for (const hash of items.keys()) {
    if (!present.has(hash)) items.delete(hash);
  }
  await removeDeadOwnersFiles(join(dir, TMP_DIR));
  await removeDeadOwnersFiles(join(dir, PINS_DIR));
}

async function removeDeadOwnersFiles(subdir: string): Promise<void> {
  for (const name of await readdir(subdir)) {
    const pid = ownerPid(name);
    if (pid === null || !isProcessAlive(pid)) await unlink(join(subdir, name)).catch(() => {});
  }
}

/** LRU order: least recently used first; ties broken by hash so every process agrees. */
function byLastUse([hashA, a]: [string, ItemRecord], [hashB, b]: [string, ItemRecord]): number {
  return a.lastUseMs - b.lastUseMs || (hashA < hashB ? -1 : 1);
}

/**
 * One cache instance's copy of the records, and what it changed since it
 * last merged with state.json. Other processes change the file meanwhile,
 * so the instance never overwrites it with its copy: it merges (under the
 * lock), and the merge must tell "another process evicted this" from
 * "I used this since", which is what `dirty` and `removed` record.
 */
export class Records {
  /** Records this instance created or used since it last merged. */
  private readonly dirty = new Set<string>();
  /** Records this instance evicted or found without a file since it last merged. */
  private readonly removed = new Set<string>();

  private constructor(private readonly dir: string, private readonly items: Map<string, ItemRecord>) {}

  /** Reads state.json and reconciles it with the files in `dir`, then saves it. Call under the lock. */
  static async load(dir: string, tmpPrefix: string): Promise<Records> {
    const items = await readState(dir);
    await reconcileWithFiles(dir, items);
    await writeState(dir, items, tmpPrefix);
    return new Records(dir, items);
  }

  get(hash: string): ItemRecord | undefined {
    return this.items.get(hash);
  }

  get count(): number {
    return this.items.size;
  }

  totalBytes(): number {
    let total = 0;
    for (const record of this.items.values()) total += record.size;
    return total;
  }

  lruOrder(): Array<[string, ItemRecord]> {
    return [...this.items].sort(byLastUse);
  }

  /** Records a use (or an insert) of `hash` at `nowMs`. */
  use(hash: string, record: ItemRecord, nowMs: number): void {
    this.items.set(hash, { ...record, lastUseMs: nowMs });
    this.dirty.add(hash);
    this.removed.delete(hash);
  }

  /** Drops the record of a blob that this instance removed or found gone. */
  forget(hash: string): void {
    this.items.delete(hash);
    this.dirty.delete(hash);
    this.removed.add(hash);
  }

  /**
   * Folds state.json into this copy, then saves the result. Call under the
   * lock. Records on disk win unless this instance used the item since (then
   * the latest use wins) or removed it; a record only this instance has is
   * kept if it was used since and its file still exists, otherwise another
   * process evicted it.
   */
  async mergeAndSave(tmpPrefix: string): Promise<void> {
    const disk = await readState(this.dir);
    const toCheck = [...this.dirty].filter((h) => !disk.has(h)).concat([...this.removed].filter((h) => disk.has(h)));
    const exists = new Map(await Promise.all(toCheck.map(async (h) => [h, await fileExists(join(this.dir, h))] as const)));
    // No await from here to the swap: records used while the checks ran are
    // merged too (they exist: lookup or insert just verified them).
    for (const hash of this.removed) {
      if (exists.get(hash) === false) disk.delete(hash);
    }
    for (const hash of this.dirty) {
      const mine = this.items.get(hash);
      const theirs = disk.get(hash);
      if (mine && theirs) disk.set(hash, mergeRecords(mine, theirs));
      else if (mine && exists.get(hash) !== false) disk.set(hash, mine);
    }
    this.items.clear();
    for (const [hash, record] of disk) this.items.set(hash, record);
    this.dirty.clear();
    this.removed.clear();
    await this.save(tmpPrefix);
  }

  /** Writes this copy to state.json. Call under the lock, right after mergeAndSave (as trim does after evicting). */
  save(tmpPrefix: string): Promise<void> {
    return writeState(this.dir, this.items, tmpPrefix);
  }
}

async function fileExists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch (err) {
    if (errnoCode(err) === "ENOENT") return false;
    throw err;
  }
}
