import { lstat, readdir, readlink } from "node:fs/promises";
import type { BigIntStats } from "node:fs";
import { dirname, isAbsolute, join, relative, resolve, sep } from "node:path";
import { DtError, errnoCode } from "../../common/errors.ts";
import { checkLinkTarget } from "../manifest.ts";

/** A regular file found under the archive root. */
export interface TreeFile {
  kind: "file";
  /** Path relative to the root, with `/` separators. */
  rel: string;
  abs: string;
  size: number;
  mode: number;
  /** What the hash cache keys on: a changed file changes at least one of these. */
  mtimeNs: bigint;
  ino: bigint;
}

export interface TreeSymlink {
  kind: "symlink";
  rel: string;
  /** Relative target, staying inside the root. */
  target: string;
}

export type TreeEntry = TreeFile | TreeSymlink;

/**
 * The deepest directory containing every listed path and `cwd` (the command
 * runs there, so it must be inside the tree). A directory entry (trailing
 * `/`) counts as itself, a file as its parent.
 */
export function commonRoot(paths: readonly string[], cwd: string): string {
  let root = resolve(cwd);
  for (const p of paths) {
    const candidate = p.endsWith("/") ? resolve(p) : dirname(resolve(p));
    while (!isInside(candidate, root) && dirname(root) !== root) root = dirname(root);
  }
  return root;
}

function isInside(path: string, dir: string): boolean {
  return path === dir || path.startsWith(dir.endsWith(sep) ? dir : dir + sep);
}

/**
 * Expands the listed paths under `root` into files and symlinks, recursing
 * into directories. Refuses what cannot be reproduced safely elsewhere:
 * devices, fifos and sockets, and symlinks whose target leaves the tree.
 * `source` (e.g. the .isolate file) is named in errors about missing paths.
 */
export async function collectTree(root: string, paths: readonly string[], source: string): Promise<TreeEntry[]> {
  const entries = new Map<string, TreeEntry>();
  for (const listed of paths) {
    const abs = resolve(listed);
    if (!isInside(abs, root)) {
      throw new DtError("invalid_input", `${source}: ${listed} is outside the tree root ${root}`);
    }
    const st = await lstat(abs, { bigint: true }).catch((err) => {
      if (errnoCode(err) === "ENOENT" || errnoCode(err) === "ENOTDIR") {
        throw new DtError("not_found", `${source} lists ${listed}, which does not exist; build it first or remove it from the list`);
      }
      throw new DtError("invalid_input", `${source}: cannot read ${listed}: ${(err as Error).message}`, { cause: err });
    });
    await addEntry(root, abs, st, entries, source);
  }
  return [...entries.values()].sort((a, b) => (a.rel < b.rel ? -1 : a.rel > b.rel ? 1 : 0));
}

async function addEntry(root: string, abs: string, st: BigIntStats, entries: Map<string, TreeEntry>, source: string): Promise<void> {
  const rel = relative(root, abs).split(sep).join("/");
  if (st.isDirectory()) {
    const names = await readdir(abs);
    // Sequential on purpose: trees are walked once and the hash cache makes re-walks cheap;
    // bounded recursion keeps file descriptors in check on million-file trees.
    for (const name of names.sort()) {
      const child = join(abs, name);
      await addEntry(root, child, await lstat(child, { bigint: true }), entries, source);
    }
    return;
  }
  if (entries.has(rel)) return;
  if (st.isSymbolicLink()) {
    entries.set(rel, { kind: "symlink", rel, target: await symlinkTarget(root, abs, rel, source) });
    return;
  }
  if (!st.isFile()) {
    // A fifo would hang the hashing read, a device would be read as endless or secret bytes, and none can be recreated from a digest.
    const kind = st.isFIFO() ? "a fifo" : st.isCharacterDevice() ? "a character device" : st.isBlockDevice() ? "a block device" : st.isSocket() ? "a socket" : "not a regular file";
    throw new DtError("invalid_input", `${source}: ${abs} is ${kind}; only files, directories and symlinks can be archived (leave it out of the list)`);
  }
  entries.set(rel, {
    kind: "file",
    rel,
    abs,
    size: Number(st.size),
    mode: Number(st.mode) & 0o777,
    mtimeNs: st.mtimeNs,
    ino: st.ino,
  });
}

/** The link's target made relative; refused when it points outside the root. */
async function symlinkTarget(root: string, abs: string, rel: string, source: string): Promise<string> {
  const raw = await readlink(abs);
  // An absolute target inside the tree is rewritten relative, so the link still works where the tree is mapped.
  const target = isAbsolute(raw) ? relative(dirname(abs), raw).split(sep).join("/") || "." : raw;
  if (isAbsolute(raw) && !isInside(raw, root)) {
    throw new DtError("invalid_input", `${source}: symlink ${abs} -> ${raw} points outside the tree ${root}; list the target itself instead`);
  }
  try {
    return checkLinkTarget(rel, target, source);
  } catch {
    throw new DtError("invalid_input", `${source}: symlink ${abs} -> ${raw} points outside the tree ${root}; list the target itself instead`);
  }
}
