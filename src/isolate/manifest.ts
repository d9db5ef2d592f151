import { posix } from "node:path";
import { DtError } from "../common/errors.ts";
import { parseStrictJson } from "../common/strict-json.ts";
import { type Digest, checkHash, checkSize, digestOfBytes } from "./digest.ts";

/** One entry of an `.isolated` manifest: a file (h, s, m) or a symlink (l). */
export interface IsolatedEntry {
  /** SHA-256 of the file's content. */
  h?: string;
  /** Size in bytes; required with h. */
  s?: number;
  /** POSIX permission bits, e.g. 0o755 (493). Not allowed with l. */
  m?: number;
  /** Symlink target, relative, staying inside the tree. */
  l?: string;
}

/** The `.isolated` manifest (luci's format 1.x with sha-256): a test's whole world. */
export interface Isolated {
  algo: "sha-256";
  version: string;
  files: Record<string, IsolatedEntry>;
  command?: string[];
  relative_cwd?: string;
  /** 0 writable, 1 files read-only (default), 2 directories read-only too. */
  read_only?: 0 | 1 | 2;
  /** Child manifests; the root and earlier includes win on conflicts. */
  includes?: string[];
}

export const ISOLATED_VERSION = "1.4";

/** Largest manifest run-isolated accepts: a million files takes ~150 MB of JSON. */
export const MAX_MANIFEST_BYTES = 256 * 2 ** 20;

/**
 * Checks a manifest path: relative, normalized, no `..`, no empty or `.`
 * component, no trailing separator, no NUL. Every tool that reads a
 * manifest goes through this, so no entry can ever land outside its tree.
 */
export function checkTreePath(path: string, what: string): string {
  const problem =
    path === "" ? "is empty"
    : path.startsWith("/") ? "is absolute"
    : path.includes("\0") ? "contains a NUL byte"
    : path.endsWith("/") ? "ends with a separator"
    : path.split("/").some((c) => c === ".." ) ? "contains '..'"
    : path.split("/").some((c) => c === "" || c === ".") ? "is not normalized (empty or '.' component)"
    : undefined;
  if (problem) throw new DtError("invalid_input", `${what}: path ${JSON.stringify(path)} ${problem}; manifest paths must be relative and inside the tree`);
  return path;
}

/**
 * Checks that a symlink at `linkPath` pointing to `target` stays inside the
 * tree: relative, not climbing above the root, and with `..` only at its
 * start. A `..` after a name would be resolved through that name, which may
 * itself be a symlink: `x -> a/up/../..` leaves the tree when `a/up` points
 * to the root, although the text stays inside. With `..` only leading, and
 * no entry below a symlink (checkNoEntryUnderEntry), every link resolves
 * inside the tree on disk too.
 */
export function checkLinkTarget(linkPath: string, target: string, what: string): string {
  if (target === "" || target.startsWith("/") || target.includes("\0")) {
    throw new DtError("invalid_input", `${what}: symlink ${linkPath} -> ${JSON.stringify(target)} must have a relative target inside the tree`);
  }
  const parts = target.split("/");
  const firstName = parts.findIndex((p) => p !== "..");
  if (firstName >= 0 && parts.slice(firstName).includes("..")) {
    throw new DtError("invalid_input", `${what}: symlink ${linkPath} -> ${target} has '..' after a name; only leading '../' is allowed`);
  }
  const resolved = posix.normalize(posix.join(posix.dirname(linkPath), target));
  if (resolved === ".." || resolved.startsWith("../")) {
    throw new DtError("invalid_input", `${what}: symlink ${linkPath} -> ${target} points outside the tree`);
  }
  return target;
}

/**
 * Serializes deterministically: keys sorted at every level, no whitespace, so
 * the same tree always gives the same bytes and so the same digest (JSON is
 * not canonical on its own; isolate's design doc warns of exactly this).
 */
export function serializeIsolated(isolated: Isolated): string {
  return canonicalJson(isolated);
}

function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  if (value !== null && typeof value === "object") {
    const keys = Object.keys(value).filter((k) => (value as Record<string, unknown>)[k] !== undefined).sort();
    return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson((value as Record<string, unknown>)[k])}`).join(",")}}`;
  }
  return JSON.stringify(value);
}

/** The manifest's bytes and digest: what gets uploaded and what `--hash` names. */
export function encodeIsolated(isolated: Isolated): { bytes: Uint8Array; digest: Digest } {
  const bytes = new TextEncoder().encode(serializeIsolated(isolated));
  return { bytes, digest: digestOfBytes(bytes) };
}

/**
 * Parses and validates untrusted manifest bytes; every problem names `what`
 * and the entry. `maxFiles` refuses (too_large) a manifest of more entries
 * before it is parsed whole: MAX_MANIFEST_BYTES alone lets in millions of
 * tiny entries, seconds of CPU to parse.
 */
export function parseIsolated(bytes: Uint8Array, what: string, options: { maxFiles?: number } = {}): Isolated {
  if (bytes.byteLength > MAX_MANIFEST_BYTES) {
    throw new DtError("too_large", `${what}: manifest of ${bytes.byteLength} bytes exceeds ${MAX_MANIFEST_BYTES}`);
  }
  // Strict: JSON.parse keeps the last of two entries with the same path, so a
  // manifest could show a reviewer (or another tool) one file and run another.
  const raw = parseStrictJson(new TextDecoder().decode(bytes), { what, maxKeys: options.maxFiles });
  if (raw === null || typeof raw !== "object" || Array.isArray(raw)) {
    throw new DtError("invalid_input", `${what}: a manifest must be a JSON object`);
  }
  const m = raw as Record<string, unknown>;
  if (m.algo !== "sha-256") {
    throw new DtError("invalid_input", `${what}: algo ${JSON.stringify(m.algo)} is not supported; dt manifests use "sha-256"`);
  }
  if (typeof m.version !== "string" || m.version.split(".")[0] !== ISOLATED_VERSION.split(".")[0]) {
    throw new DtError("invalid_input", `${what}: version ${JSON.stringify(m.version)} is not 1.x`);
  }
  const isolated: Isolated = { algo: "sha-256", version: m.version, files: parseFiles(m.files, what) };
  if (m.command !== undefined) isolated.command = stringList(m.command, `${what}: command`);
  if (m.relative_cwd !== undefined) {
    if (typeof m.relative_cwd !== "string") throw new DtError("invalid_input", `${what}: relative_cwd must be a string`);
    isolated.relative_cwd = m.relative_cwd === "" || m.relative_cwd === "." ? "." : checkTreePath(m.relative_cwd, `${what}: relative_cwd`);
  }
  if (m.read_only !== undefined) {
    if (m.read_only !== 0 && m.read_only !== 1 && m.read_only !== 2) throw new DtError("invalid_input", `${what}: read_only must be 0, 1 or 2`);
    isolated.read_only = m.read_only;
  }
  if (m.includes !== undefined) {
    isolated.includes = stringList(m.includes, `${what}: includes`).map((h, i) => checkHash(h, `${what}: includes[${i}]`));
  }
  return isolated;
}

function parseFiles(value: unknown, what: string): Record<string, IsolatedEntry> {
  if (value === undefined) return {};
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    throw new DtError("invalid_input", `${what}: files must be an object of path → entry`);
  }
  const files: Record<string, IsolatedEntry> = Object.create(null);
  for (const [path, entry] of Object.entries(value)) {
    const where = `${what}: files[${JSON.stringify(path)}]`;
    checkTreePath(path, where);
    if (entry === null || typeof entry !== "object") throw new DtError("invalid_input", `${where} must be an object`);
    const e = entry as Record<string, unknown>;
    if ((e.h === undefined) === (e.l === undefined)) throw new DtError("invalid_input", `${where} must have exactly one of h (a file) or l (a symlink)`);
    if (e.t !== undefined && e.t !== "basic") throw new DtError("invalid_input", `${where}: type ${JSON.stringify(e.t)} is not supported`);
    if (e.l !== undefined) {
      if (typeof e.l !== "string") throw new DtError("invalid_input", `${where}: l must be a string`);
      if (e.m !== undefined) throw new DtError("invalid_input", `${where}: a symlink cannot have a mode`);
      files[path] = { l: checkLinkTarget(path, e.l, where) };
      continue;
    }
    const out: IsolatedEntry = { h: checkHash(e.h, `${where}.h`), s: checkSize(e.s, `${where}.s`) };
    if (e.m !== undefined) {
      if (typeof e.m !== "number" || !Number.isInteger(e.m) || e.m < 0 || e.m > 0o777) {
        throw new DtError("invalid_input", `${where}: m must be permission bits between 0 and 0o777`);
      }
      out.m = e.m;
    }
    files[path] = out;
  }
  checkNoEntryUnderEntry(files, what);
  return files;
}

/**
 * `a` and `a/b` cannot both be entries: a file cannot also be a directory,
 * and nothing may be placed through a symlink. Checked on each manifest and
 * again on the union of a manifest and its includes.
 */
export function checkNoEntryUnderEntry(files: Record<string, IsolatedEntry>, what: string): void {
  const paths = new Set(Object.keys(files));
  for (const path of paths) {
    for (let i = path.indexOf("/"); i >= 0; i = path.indexOf("/", i + 1)) {
      if (paths.has(path.slice(0, i))) {
        throw new DtError("invalid_input", `${what}: ${path.slice(0, i)} is listed as a file or symlink and also as a directory of ${path}`);
      }
    }
  }
}

function stringList(value: unknown, what: string): string[] {
  if (!Array.isArray(value) || !value.every((v) => typeof v === "string")) {
    throw new DtError("invalid_input", `${what} must be a list of strings`);
  }
  return value;
}
