import { type Stats, chmodSync, copyFileSync, linkSync, lstatSync, mkdirSync, readdirSync, rmSync, symlinkSync } from "node:fs";
import { dirname, join } from "node:path";
import { DtError, errnoCode } from "../../common/errors.ts";
import { loopTurns } from "../../common/turns.ts";
import type { Digest } from "../digest.ts";
import type { IsolatedEntry } from "../manifest.ts";
import type { ResolvedTree } from "./fetch.ts";

export interface MapStats {
  linked: number;
  copied: number;
  symlinks: number;
}

/**
 * Lays the tree out under `runDir` from the cache. Files are hardlinked:
 * no bytes move, so a warm run maps a 1 GiB tree in about the time of
 * `cp -al`. They are copied instead when the tree must be writable
 * (read_only 0: a write through a link would corrupt the cache) or when the
 * cache is on another filesystem. `refetch` brings back a blob another
 * process evicted between lookup and link.
 *
 * Plain synchronous calls on purpose: link(2) and mkdir(2) take
 * microseconds, and a promise per file would cost more than the syscall.
 * Between files the event loop gets a turn every TURN_EVERY_MS, so a big
 * tree (10,000 copied files took 8 s here) does not hold up a slave's
 * heartbeat and its other slots; a copy is one synchronous call, so no
 * descriptor is open across a turn.
 */
/** How long the mapping may keep the event loop before giving it a turn, ms. */
const TURN_EVERY_MS = 10;

export async function mapTree(
  tree: ResolvedTree,
  blobPaths: Map<string, string>,
  runDir: string,
  refetch: (d: Digest) => Promise<string>,
): Promise<MapStats> {
  const stats: MapStats = { linked: 0, copied: 0, symlinks: 0 };
  const made = new Set<string>([runDir]);
  const turn = loopTurns(TURN_EVERY_MS);
  const ensureDir = (dir: string) => {
    if (made.has(dir)) return;
    mkdirSync(dir, { recursive: true });
    made.add(dir);
  };
  for (const path of Object.keys(tree.files).sort()) {
    await turn();
    const entry = tree.files[path]!;
    const dest = join(runDir, path);
    try {
      ensureDir(dirname(dest));
      if (entry.l !== undefined) {
        symlinkSync(entry.l, dest);
        stats.symlinks++;
        continue;
      }
      await placeWithRefetch(entry, blobPaths, dest, tree.readOnly === 0, refetch, stats);
    } catch (err) {
      if (err instanceof DtError) throw err;
      const code = errnoCode(err) === "ENOSPC" ? "no_space" : "internal";
      throw new DtError(code, `cannot map ${path} into ${runDir}: ${(err as Error).message}`, { cause: err });
    }
  }
  // Every directory, not just those that hold files: mkdir -p made their parents too.
  if (tree.readOnly === 2) makeDirsReadOnly(runDir);
  return stats;
}

/** Places one file; a cache file evicted by another process since lookup is fetched again, once. */
async function placeWithRefetch(
  entry: IsolatedEntry,
  blobPaths: Map<string, string>,
  dest: string,
  writable: boolean,
  refetch: (d: Digest) => Promise<string>,
  stats: MapStats,
): Promise<void> {
  const digest = { hash: entry.h!, size: entry.s! };
  const mode = writable ? (entry.m ?? 0o644) : (entry.m ?? 0o444) & ~0o222;
  try {
    placeFile(blobPaths.get(digest.hash)!, dest, writable, mode, stats);
  } catch (err) {
    if (errnoCode(err) !== "ENOENT") throw err;
    const source = await refetch(digest);
    blobPaths.set(digest.hash, source);
    placeFile(source, dest, writable, mode, stats);
  }
}

/** Makes `dir` and every directory below it 0o555, children before parents; symlinks are not followed. */
function makeDirsReadOnly(dir: string): void {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.isDirectory()) makeDirsReadOnly(join(dir, entry.name));
  }
  chmodSync(dir, 0o555);
}

function placeFile(source: string, dest: string, writable: boolean, mode: number, stats: MapStats): void {
  if (!writable) {
    try {
      linkSync(source, dest);
      stats.linked++;
      return;
    } catch (err) {
      // EXDEV: cache on another filesystem; EMLINK: the inode's link count is full.
      if (errnoCode(err) !== "EXDEV" && errnoCode(err) !== "EMLINK" && errnoCode(err) !== "EPERM") throw err;
    }
  }
  copyFileSync(source, dest);
  chmodSync(dest, mode);
  stats.copied++;
}

/**
 * Removes a run directory, read-only parts included. Only directories are
 * made writable again: files may be hardlinks into the cache, and a chmod
 * would change the cached inode.
 */
export function removeTree(dir: string): void {
  // A symlink (or a file) in the place of the tree is removed itself: chmod
  // and readdir would follow it and make what it points to 0755, outside the
  // tree (rmSync alone never follows).
  let top: Stats;
  try {
    top = lstatSync(dir);
  } catch (err) {
    if (errnoCode(err) === "ENOENT") return;
    throw err;
  }
  if (!top.isDirectory()) {
    rmSync(dir, { force: true });
    return;
  }
  const unlock = (d: string) => {
    try {
      chmodSync(d, 0o755);
    } catch {
      return;
    }
    for (const name of readdirSync(d)) {
      const child = join(d, name);
      if (lstatSync(child).isDirectory()) unlock(child);
    }
  };
  try {
    unlock(dir);
  } catch (err) {
    if (errnoCode(err) !== "ENOENT") throw err;
  }
  rmSync(dir, { recursive: true, force: true });
}
