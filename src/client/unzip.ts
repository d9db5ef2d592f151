import { closeSync, constants, mkdirSync, openSync, writeFileSync } from "node:fs";
import { dirname, resolve, sep } from "node:path";
import { inflateSync } from "fflate";
import { DtError, errnoCode } from "../common/errors.ts";

/** One entry of a zip's central directory, as far as extraction needs it. */
export interface ZipEntry {
  name: string;
  method: number;
  encrypted: boolean;
  crc32: number;
  compressedSize: number;
  size: number;
  localHeaderOffset: number;
  /** Unix mode (type and permission bits) when the archive was made on Unix; null otherwise. */
  unixMode: number | null;
  directory: boolean;
}

const S_IFMT = 0o170000;
const S_IFREG = 0o100000;
const S_IFDIR = 0o040000;
/**
 * What the entries of one archive may add up to. A slave zips at most
 * 200 MiB of files (its cap, as dist_test's); an archive declaring far more
 * is not one of dt's, and each entry is inflated in memory at its declared
 * size.
 */
export const MAX_EXTRACTED_BYTES = 2 * 2 ** 30;
/** Hosts in "version made by" whose external attributes carry a Unix mode: Unix, macOS (APPNOTE 4.4.2.2). */
const UNIX_HOSTS = new Set([3, 19]);

/**
 * Extracts a zip into `destDir`, refusing the whole archive before writing
 * anything if an entry would land outside it (zip-slip: an absolute path,
 * a `..` segment, a drive letter) or is a symlink or device, which could
 * point anywhere. Backslashes count as separators, as Windows tools write
 * them. Returns the number of files written.
 *
 * @example await extractZip(await Bun.file("a.zip").bytes(), "out/a", "a.zip");
 */
export function extractZip(zip: Uint8Array, destDir: string, what: string): number {
  const root = resolve(destDir);
  const entries = readCentralDirectory(zip, what);
  const targets = entries.map((entry) => ({ entry, path: checkEntry(entry, root, what) }));
  checkNoCollisions(targets, root, what);
  const total = entries.reduce((sum, e) => sum + e.size, 0);
  if (total > MAX_EXTRACTED_BYTES) {
    throw new DtError("too_large", `${what}: the archive would expand to ${total} bytes, more than the ${MAX_EXTRACTED_BYTES} a dt artifact archive can hold; refusing to extract it`);
  }
  mkdirSync(root, { recursive: true });
  let files = 0;
  for (const { entry, path } of targets) {
    if (entry.directory) {
      mkdirSync(path, { recursive: true });
      continue;
    }
    const data = entryData(zip, entry, what);
    mkdirSync(dirname(path), { recursive: true });
    // Permission bits only: no setuid, setgid or sticky from an archive.
    const mode = entry.unixMode !== null && entry.unixMode & 0o777 ? entry.unixMode & 0o777 : 0o644;
    // Never through a symlink already at the destination (left by something else: no archive makes one).
    let fd: number;
    try {
      fd = openSync(path, constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC | constants.O_NOFOLLOW, mode);
    } catch (err) {
      if (errnoCode(err) !== "ELOOP") throw err;
      throw new DtError("invalid_input", `${what}: ${path} is a symbolic link; refusing to write entry ${JSON.stringify(entry.name)} through it`);
    }
    try {
      writeFileSync(fd, data);
    } finally {
      closeSync(fd);
    }
    files++;
  }
  return files;
}

/**
 * Two entries that land on the same path, or a file where another entry
 * needs a directory, are refused before anything is written: the second
 * would silently replace the first (`a/b`, `a//b`, `a\b` and `./a/b` are
 * one path), or extraction would fail half-way.
 */
function checkNoCollisions(targets: readonly { entry: ZipEntry; path: string }[], root: string, what: string): void {
  /** What each path is, and the entry that made it so (a directory may come from an entry below it). */
  const kinds = new Map<string, { directory: boolean; by: string; implied: boolean }>();
  for (const { entry, path } of targets) {
    const refuse = (why: string) => new DtError("invalid_input", `${what}: entry ${JSON.stringify(entry.name)} ${why}; refusing to extract the archive`);
    const seen = kinds.get(path);
    if (seen && !(seen.directory && entry.directory)) {
      throw refuse(seen.implied ? `is a file where entry ${JSON.stringify(seen.by)} needs a directory` : `lands on the same path as entry ${JSON.stringify(seen.by)}`);
    }
    if (!seen) kinds.set(path, { directory: entry.directory, by: entry.name, implied: false });
    for (let parent = dirname(path); parent.length > root.length; parent = dirname(parent)) {
      const above = kinds.get(parent);
      if (above && !above.directory) throw refuse(`needs a directory where entry ${JSON.stringify(above.by)} is a file`);
      if (!above) kinds.set(parent, { directory: true, by: entry.name, implied: true });
    }
  }
}

/** Where `entry` goes under `root`, or a DtError naming the entry if it must not be written. */
function checkEntry(entry: ZipEntry, root: string, what: string): string {
  const refuse = (why: string) => new DtError("invalid_input", `${what}: entry ${JSON.stringify(entry.name)} ${why}; refusing to extract the archive`);
  const name = entry.name.replaceAll("\\", "/");
  if (name.includes("\0")) throw refuse("has a NUL in its name");
  if (name === "") throw refuse("has an empty name");
  if (name.startsWith("/") || /^[A-Za-z]:/.test(name)) throw refuse(`is an absolute path and would be written outside ${root}`);
  if (name.split("/").includes("..")) throw refuse(`climbs out with '..' and would be written outside ${root}`);
  const type = entry.unixMode === null ? null : entry.unixMode & S_IFMT;
  if (type === 0o120000) throw refuse("is a symbolic link, which could point outside the directory");
  if (type !== null && type !== 0 && type !== S_IFREG && type !== S_IFDIR) throw refuse(`is a special file (mode ${type.toString(8)})`);
  if (entry.encrypted) throw refuse("is encrypted");
  if (!entry.directory && entry.method !== 0 && entry.method !== 8) throw refuse(`uses compression method ${entry.method}; only stored and deflate are supported`);
  const path = resolve(root, name);
  if (path !== root && !path.startsWith(root + sep)) throw refuse(`would be written outside ${root}`);
  if (path === root && !entry.directory) throw refuse("names the directory itself, not a file in it");
  return path;
}

function entryData(zip: Uint8Array, entry: ZipEntry, what: string): Uint8Array {
  const view = new DataView(zip.buffer, zip.byteOffset, zip.byteLength);
  const at = entry.localHeaderOffset;
  if (at + 30 > zip.byteLength || view.getUint32(at, true) !== 0x04034b50) throw corrupt(what, `no local header for ${entry.name}`);
  const start = at + 30 + view.getUint16(at + 26, true) + view.getUint16(at + 28, true);
  const end = start + entry.compressedSize;
  if (end > zip.byteLength) throw corrupt(what, `${entry.name} runs past the end of the file`);
  const raw = zip.subarray(start, end);
  let data: Uint8Array;
  try {
    data = entry.method === 0 ? raw : inflateSync(raw, { out: new Uint8Array(entry.size) });
  } catch (err) {
    throw corrupt(what, `${entry.name} does not inflate (${(err as Error).message})`);
  }
  if (data.byteLength !== entry.size || Bun.hash.crc32(data) >>> 0 !== entry.crc32) throw corrupt(what, `${entry.name} does not match its size and CRC`);
  return data;
}

/** Reads the central directory, zip64 included. */
export function readCentralDirectory(zip: Uint8Array, what: string): ZipEntry[] {
  const view = new DataView(zip.buffer, zip.byteOffset, zip.byteLength);
  const eocd = findEndOfCentralDirectory(view);
  if (eocd < 0) throw corrupt(what, "no end-of-central-directory record");
  let count = view.getUint16(eocd + 10, true);
  let offset = view.getUint32(eocd + 16, true);
  const locator = eocd - 20;
  if ((count === 0xffff || offset === 0xffffffff) && locator >= 0 && view.getUint32(locator, true) === 0x07064b50) {
    const zip64 = Number(view.getBigUint64(locator + 8, true));
    if (zip64 + 56 > zip.byteLength || view.getUint32(zip64, true) !== 0x06064b50) throw corrupt(what, "bad zip64 end record");
    count = Number(view.getBigUint64(zip64 + 32, true));
    offset = Number(view.getBigUint64(zip64 + 48, true));
  }
  const entries: ZipEntry[] = [];
  const utf8 = new TextDecoder("utf-8");
  for (let i = 0, p = offset; i < count; i++) {
    if (p + 46 > zip.byteLength || view.getUint32(p, true) !== 0x02014b50) throw corrupt(what, `central directory entry ${i} is damaged`);
    const host = view.getUint16(p + 4, true) >> 8;
    const flags = view.getUint16(p + 8, true);
    const nameLength = view.getUint16(p + 28, true);
    const extraLength = view.getUint16(p + 30, true);
    const commentLength = view.getUint16(p + 32, true);
    const external = view.getUint32(p + 38, true);
    const name = utf8.decode(zip.subarray(p + 46, p + 46 + nameLength));
    let size = view.getUint32(p + 24, true);
    let compressedSize = view.getUint32(p + 20, true);
    let localHeaderOffset = view.getUint32(p + 42, true);
    // Zip64 extra field: 64-bit values for exactly those fields that read 0xFFFFFFFF, in this order.
    for (let e = p + 46 + nameLength; e + 4 <= p + 46 + nameLength + extraLength; ) {
      const id = view.getUint16(e, true);
      const length = view.getUint16(e + 2, true);
      if (id === 0x0001) {
        let q = e + 4;
        const next = () => {
          const v = Number(view.getBigUint64(q, true));
          q += 8;
          return v;
        };
        if (size === 0xffffffff) size = next();
        if (compressedSize === 0xffffffff) compressedSize = next();
        if (localHeaderOffset === 0xffffffff) localHeaderOffset = next();
      }
      e += 4 + length;
    }
    const unixMode = UNIX_HOSTS.has(host) ? external >>> 16 : null;
    const directory = name.endsWith("/") || name.endsWith("\\") || (unixMode !== null && (unixMode & S_IFMT) === S_IFDIR) || (external & 0x10) !== 0;
    entries.push({ name, method: view.getUint16(p + 10, true), encrypted: (flags & 1) !== 0, crc32: view.getUint32(p + 16, true), compressedSize, size, localHeaderOffset, unixMode, directory });
    p += 46 + nameLength + extraLength + commentLength;
  }
  return entries;
}

/** The EOCD sits in the last 22 bytes plus at most a 65,535-byte comment. */
function findEndOfCentralDirectory(view: DataView): number {
  for (let p = view.byteLength - 22; p >= Math.max(0, view.byteLength - 22 - 0xffff); p--) {
    if (view.getUint32(p, true) === 0x06054b50) return p;
  }
  return -1;
}

function corrupt(what: string, why: string): DtError {
  return new DtError("invalid_input", `${what} is not a valid zip archive: ${why}`);
}
