import { lstat, readdir, readlink } from "node:fs/promises";
import { isAbsolute, join, relative, sep } from "node:path";
import { checkLinkTarget } from "../manifest.ts";
import type { FileIdentity } from "./open-checked.ts";

/** A regular file of the outputs. */
export interface OutputFile {
  kind: "file";
  /** Relative to the outputs root, `/`-separated. */
  rel: string;
  abs: string;
  size: number;
  mode: number;
  /** The file as listed: it is hashed and uploaded only if it is still this one (openChecked). */
  identity: FileIdentity;
}

/** A symlink whose target stays inside the outputs. */
export interface OutputLink {
  kind: "symlink";
  rel: string;
  target: string;
}

export type OutputEntry = OutputFile | OutputLink;

/** What the walk found, or where it stopped because the outputs are over a limit. */
export interface CollectedOutputs {
  entries: OutputEntry[];
  /** Sum of the regular files' sizes; when over the cap, at least what was seen. */
  bytes: number;
  /** Entries left out, each with why: fifos, sockets, devices, symlinks leaving the tree. */
  skipped: string[];
  /** Set when a limit was passed: the outputs must not be uploaded. */
  overLimit: { files: boolean; bytes: boolean; dirs?: boolean } | null;
}

export interface OutputLimits {
  maxBytes: number;
  maxFiles: number;
}

/**
 * Walks the outputs directory, as the command left it, without following
 * any symlink. What cannot be stored as a file or a link is left out and
 * named, never read: a fifo would block the read forever and a device
 * could yield endless or secret bytes. A symlink whose target leaves the
 * directory (absolute, or climbing out with `..`) is left out too: the
 * CAS has no file to give for it, and a reader recreating it would point
 * into their own machine. Past maxFiles the walk stops at once (a test
 * writing millions of files must not cost the slave minutes of lstat);
 * past maxBytes it goes on counting, so the message can say how much.
 */
export async function collectOutputs(root: string, limits: OutputLimits): Promise<CollectedOutputs> {
  const out: CollectedOutputs = { entries: [], bytes: 0, skipped: [], overLimit: null };
  // Explicit stack, not recursion: a hostile test can nest directories thousands deep.
  const dirs = [root];
  // Directories count against maxFiles too: a million empty ones would otherwise cost minutes of readdir and never reach a limit.
  let dirsSeen = 0;
  while (dirs.length > 0) {
    const dir = dirs.pop()!;
    const names = (await readdir(dir)).sort();
    for (const name of names) {
      const abs = join(dir, name);
      const rel = relative(root, abs).split(sep).join("/");
      const st = await lstat(abs);
      if (st.isDirectory()) {
        if (++dirsSeen > limits.maxFiles) {
          out.overLimit = { files: false, bytes: out.bytes > limits.maxBytes, dirs: true };
          return out;
        }
        dirs.push(abs);
        continue;
      }
      // What is left out counts too: a million fifos or outward symlinks are as long a walk, and as long a list.
      if (out.entries.length + out.skipped.length >= limits.maxFiles) {
        out.overLimit = { files: true, bytes: out.bytes > limits.maxBytes };
        return out;
      }
      if (st.isSymbolicLink()) {
        const target = linkInside(root, abs, rel, await readlink(abs));
        if (target === null) out.skipped.push(`${rel} (a symlink pointing outside the outputs)`);
        else out.entries.push({ kind: "symlink", rel, target });
        continue;
      }
      if (!st.isFile()) {
        out.skipped.push(`${rel} (${st.isFIFO() ? "a fifo" : st.isSocket() ? "a socket" : st.isCharacterDevice() || st.isBlockDevice() ? "a device" : "not a regular file"})`);
        continue;
      }
      out.bytes += st.size;
      out.entries.push({ kind: "file", rel, abs, size: st.size, mode: st.mode & 0o777, identity: { dev: st.dev, ino: st.ino, size: st.size } });
    }
  }
  if (out.bytes > limits.maxBytes) out.overLimit = { files: false, bytes: true };
  return out;
}

/** The link's target, relative, when it stays inside root; null otherwise. */
function linkInside(root: string, abs: string, rel: string, raw: string): string | null {
  const target = isAbsolute(raw) ? relative(join(abs, ".."), raw).split(sep).join("/") || "." : raw;
  if (isAbsolute(raw) && relative(root, raw).startsWith("..")) return null;
  try {
    return checkLinkTarget(rel, target, "outputs");
  } catch {
    return null;
  }
}
