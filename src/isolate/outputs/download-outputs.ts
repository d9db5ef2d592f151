import { closeSync, constants, fchmodSync, lstatSync, mkdirSync, openSync, symlinkSync, unlinkSync, writeSync } from "node:fs";
import { dirname, join, resolve, sep } from "node:path";
import { mapLimit } from "../../common/concurrency.ts";
import { DtError, errnoCode } from "../../common/errors.ts";
import type { CasClient } from "../cas/client.ts";
import { checkBytesMatch, verifyingStream } from "../digest.ts";
import { parseIsolated } from "../manifest.ts";

/** Blob downloads in flight: as run-isolated's fetch, bounded for the server's sake. */
const DOWNLOAD_CONCURRENCY = 8;

export interface DownloadedOutputs {
  files: number;
  bytes: number;
  symlinks: number;
}

/**
 * Recreates the outputs tree named by manifest `hash` under `destDir`: each
 * file with its content (verified against its digest as it streams) and
 * permission bits, each symlink as recorded. The manifest is checked as any
 * other (parseIsolated): absolute or `..` paths, symlinks leaving the tree
 * and entries below a symlink are refused before anything is written, and
 * no file is ever written through a symlink found at the destination.
 *
 * @example await downloadOutputs(cas, ref.isolated, "out/task/0");
 */
export async function downloadOutputs(cas: CasClient, hash: string, destDir: string): Promise<DownloadedOutputs> {
  const what = `outputs manifest ${hash}`;
  const bytes = await cas.getBytes(hash);
  checkBytesMatch(bytes, { hash, size: bytes.byteLength }, what);
  const isolated = parseIsolated(bytes, what);
  const root = resolve(destDir);
  mkdirSync(root, { recursive: true });
  const entries = Object.entries(isolated.files);
  const result: DownloadedOutputs = { files: 0, bytes: 0, symlinks: 0 };
  const checkedDirs = new Set<string>([root]);
  const parentOf = (rel: string) => {
    const path = join(root, rel);
    if (!path.startsWith(root + sep)) throw new DtError("invalid_input", `${what}: ${JSON.stringify(rel)} lands outside ${root}; refusing it`);
    makeDirs(dirname(path), root, checkedDirs, what);
    return path;
  };
  await mapLimit(entries.filter(([, e]) => e.h !== undefined), DOWNLOAD_CONCURRENCY, async ([rel, e]) => {
    const path = parentOf(rel);
    const digest = { hash: e.h!, size: e.s! };
    const fd = openNoFollow(path, e.m ?? 0o644, what);
    try {
      for await (const chunk of verifyingStream(await cas.getBlob(digest.hash), digest, `${what}: ${rel}`)) writeSync(fd, chunk);
    } finally {
      closeSync(fd);
    }
    result.files++;
    result.bytes += digest.size;
  });
  // Links last: no file of this tree is ever written through one of them.
  for (const [rel, e] of entries) {
    if (e.l === undefined) continue;
    const path = parentOf(rel);
    try {
      unlinkSync(path);
    } catch (err) {
      if (errnoCode(err) !== "ENOENT") throw new DtError("invalid_input", `${what}: cannot replace ${path} with a symlink: ${(err as Error).message}`);
    }
    symlinkSync(e.l, path);
    result.symlinks++;
  }
  return result;
}

/** mkdir -p below root, refusing to go through a symlink already there (left by an earlier fetch or anything else). */
function makeDirs(dir: string, root: string, checked: Set<string>, what: string): void {
  if (checked.has(dir)) return;
  makeDirs(dirname(dir), root, checked, what);
  try {
    mkdirSync(dir);
  } catch (err) {
    if (errnoCode(err) !== "EEXIST") throw err;
    if (!lstatSync(dir).isDirectory()) throw new DtError("invalid_input", `${what}: ${dir} exists and is not a directory (a symlink or a file); refusing to write through it`);
  }
  checked.add(dir);
}

function openNoFollow(path: string, mode: number, what: string): number {
  try {
    // Permission bits only, as the manifest allows: no setuid, setgid or sticky.
    const fd = openSync(path, constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC | constants.O_NOFOLLOW, mode & 0o777);
    // The umask narrowed the mode at creation, and a file fetched before keeps its old one.
    fchmodSync(fd, mode & 0o777);
    return fd;
  } catch (err) {
    if (errnoCode(err) !== "ELOOP") throw err;
    throw new DtError("invalid_input", `${what}: ${path} is a symbolic link; refusing to write through it`);
  }
}
