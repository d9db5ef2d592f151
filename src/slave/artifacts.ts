import { constants } from "node:fs";
import { type FileHandle, open, readlink, realpath, stat } from "node:fs/promises";
import { relative, sep } from "node:path";
import { Zip, ZipDeflate, ZipPassThrough } from "fflate";
import type { Logger } from "../common/log.ts";

/** dist_test's cap on the uncompressed bytes of one attempt's artifacts (200*1024*1024 in its slave.py). */
export const DEFAULT_ARTIFACT_CAP_BYTES = 200 * 1024 * 1024;

/** fflate writes no ZIP64 records, so an archive holds at most 65,535 entries; more are treated as over the cap. */
const MAX_ZIP_ENTRIES = 0xffff;

/** The only entry of an archive whose matches were over the cap; dist_test's name, which its users look for. */
export const TOO_BIG_ENTRY = "_ARCHIVE_TOO_BIG_";

export interface ArtifactFile {
  /** Path in the archive: relative to the task root, `/`-separated. */
  name: string;
  /** The file's real path. */
  path: string;
  size: number;
  mode: number;
  mtimeMs: number;
}

/**
 * The regular files under `root` that match any of `globs` (Bun.Glob: `*`,
 * `**`, `?`, `[…]`, `{a,b}`; dotfiles only when the pattern names them, as
 * dist_test's glob2 did). A match counts only if its real path stays inside
 * `root`: a symlink a test left pointing at /etc or at another task's
 * directory is skipped. Directory symlinks are not descended into. Files
 * matched by several globs, or through an in-tree symlink, are listed once,
 * by their real path relative to the root, as dist_test's archive had them.
 */
export async function findArtifacts(root: string, globs: readonly string[], log: Logger, fields: Record<string, unknown>): Promise<ArtifactFile[]> {
  const realRoot = await realpath(root);
  const found = new Map<string, ArtifactFile>();
  for (const pattern of globs) {
    // The master refuses these at submit; a task from elsewhere (a beanstalkd body) is checked again. Scanning
    // them would walk the filesystem above the task, only for every match to be refused below.
    if (pattern.startsWith("/") || pattern.split("/").includes("..")) {
      log.warn(`artifact glob ${JSON.stringify(pattern)} reaches outside the task directory, skipped`, fields);
      continue;
    }
    let matches: AsyncIterableIterator<string>;
    try {
      // onlyFiles: false, so that symlinks to files come back too and are judged by their target.
      matches = new Bun.Glob(pattern).scan({ cwd: root, onlyFiles: false, followSymlinks: false, throwErrorOnBrokenSymlink: false });
    } catch (err) {
      log.warn(`artifact glob ${JSON.stringify(pattern)} is invalid, skipped: ${(err as Error).message}`, fields);
      continue;
    }
    for await (const match of matches) {
      const path = await realpath(`${root}/${match}`).catch(() => null);
      if (path === null) continue; // a broken symlink
      if (!path.startsWith(realRoot + sep)) {
        log.warn(`artifact ${match} resolves to ${path}, outside the task directory; not collected`, fields);
        continue;
      }
      if (found.has(path)) continue;
      const info = await stat(path).catch(() => null);
      if (!info?.isFile()) continue;
      const name = relative(realRoot, path).split(sep).join("/");
      found.set(path, { name, path, size: info.size, mode: info.mode, mtimeMs: info.mtimeMs });
    }
  }
  return [...found.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/** Zip's DOS timestamps span 1980–2107 and fflate refuses others; build tools that zero mtimes (for reproducibility) are common. */
const ZIP_MIN_MS = Date.UTC(1980, 0, 2);
const ZIP_MAX_MS = Date.UTC(2099, 11, 31);
function zipTime(ms: number): number {
  return Math.min(ZIP_MAX_MS, Math.max(ZIP_MIN_MS, ms));
}

export interface ZipSummary {
  entries: number;
  /** Uncompressed bytes of the matched files. */
  inputBytes: number;
  /** True when the matches were over the cap and the archive holds only TOO_BIG_ENTRY. */
  tooBig: boolean;
  /** Files left out because they were no longer where findArtifacts found them (see openUnmoved). */
  skipped: string[];
}

/** One read of an artifact: big enough for few syscalls, small enough that slots' zips together stay a few MiB. */
const READ_CHUNK_BYTES = 1 << 20;

/**
 * Opens an artifact for reading, or null when its path no longer leads to
 * a file inside the task directory: between findArtifacts and now, a
 * process the test left behind could have replaced the file, or a
 * directory above it, with a symlink to /etc. The final component is
 * opened without following a symlink, and the opened file's own path
 * (from /proc, on Linux) must still be the one that was checked.
 */
async function openUnmoved(file: ArtifactFile): Promise<FileHandle | null> {
  let handle: FileHandle;
  try {
    handle = await open(file.path, constants.O_RDONLY | constants.O_NOFOLLOW);
  } catch {
    return null;
  }
  const opened = await readlink(`/proc/self/fd/${handle.fd}`).catch(() => null);
  // Without /proc (not Linux), the same file must at least still be a regular file of the size counted.
  const info = await handle.stat();
  if ((opened !== null && opened !== file.path) || !info.isFile() || info.size < file.size) {
    await handle.close();
    return null;
  }
  return handle;
}

/**
 * Writes `files` as a DEFLATE zip to `zipPath`, streaming: a file is read
 * in pieces and each compressed piece is written before the next is read,
 * so memory stays at a few chunks whatever the archive's size, and the
 * event loop (heartbeats, other slots' logs) runs between pieces. When the
 * files total more than `capBytes` (or are too many for a zip without
 * ZIP64), the zip holds only TOO_BIG_ENTRY, whose text gives the cap and
 * the total.
 */
export async function writeArtifactZip(files: readonly ArtifactFile[], zipPath: string, capBytes: number): Promise<ZipSummary> {
  const skipped: string[] = [];
  const inputBytes = files.reduce((sum, f) => sum + f.size, 0);
  const tooBig = inputBytes > capBytes || files.length > MAX_ZIP_ENTRIES;
  const out = await open(zipPath, "w");
  let failure: Error | null = null;
  const pending: Uint8Array[] = [];
  const zip = new Zip((err, chunk) => {
    if (err) failure ??= err;
    else pending.push(chunk);
  });
  const flush = async () => {
    if (failure) throw failure;
    for (const chunk of pending.splice(0)) await out.write(chunk);
  };
  try {
    if (tooBig) {
      const entry = new ZipPassThrough(TOO_BIG_ENTRY);
      zip.add(entry);
      const why = inputBytes > capBytes
        ? `Size of matched uncompressed test artifacts exceeded maximum size (${inputBytes} bytes > ${capBytes} bytes)!`
        : `Too many matched test artifacts for one archive (${files.length} files > ${MAX_ZIP_ENTRIES})!`;
      const text = `${why} ${files.length} files matched; narrow artifact_archive_globs.\n`;
      entry.push(new TextEncoder().encode(text), true);
    } else {
      for (const file of files) {
        const entry = new ZipDeflate(file.name, { level: 6 });
        entry.mtime = zipTime(file.mtimeMs);
        // Unix attributes, so that unzip restores the files' permissions.
        entry.os = 3;
        entry.attrs = (file.mode & 0o777) << 16;
        const handle = await openUnmoved(file);
        if (!handle) {
          skipped.push(file.name);
          continue;
        }
        zip.add(entry);
        try {
          // Only the size that was counted: a process still writing cannot push the archive past the cap.
          const buffer = new Uint8Array(Math.min(READ_CHUNK_BYTES, Math.max(file.size, 1)));
          for (let position = 0; position < file.size; ) {
            const { bytesRead } = await handle.read(buffer, 0, Math.min(buffer.byteLength, file.size - position), position);
            if (bytesRead === 0) break;
            position += bytesRead;
            entry.push(buffer.slice(0, bytesRead));
            await flush();
          }
        } finally {
          await handle.close();
        }
        entry.push(new Uint8Array(0), true);
        await flush();
      }
    }
    zip.end();
    await flush();
  } finally {
    await out.close();
  }
  return { entries: tooBig ? 1 : files.length - skipped.length, inputBytes, tooBig, skipped };
}
