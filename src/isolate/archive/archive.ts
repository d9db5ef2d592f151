import { mkdir, writeFile } from "node:fs/promises";
import { dirname, relative, resolve, sep } from "node:path";
import type { Logger } from "../../common/log.ts";
import type { CasClient } from "../cas/client.ts";
import type { Digest } from "../digest.ts";
import { type Isolated, type IsolatedEntry, ISOLATED_VERSION, checkNoEntryUnderEntry, encodeIsolated } from "../manifest.ts";
import { HashCache } from "./hash-cache.ts";
import { HashPool } from "./hash-pool.ts";
import { type TreeEntry, type TreeFile, collectTree, commonRoot } from "./tree.ts";
import { type UploadSource, type UploadStats, uploadMissing } from "./upload.ts";

/** One manifest to build: a tree, a command and where to write the `.isolated`. */
export interface ArchiveTarget {
  /** Key in batcharchive's dump: the .isolated file's base name without extension. */
  name: string;
  /** Where to write the manifest; none when only the digest is wanted. */
  isolatedPath?: string;
  root: string;
  /** Absolute paths under root; directories are taken whole. */
  paths: string[];
  command: string[];
  /** The command's directory relative to root (`.` for root itself). */
  relativeCwd: string;
  readOnly?: 0 | 1 | 2;
  /** Named in error messages: the .isolate file, or "command line". */
  source: string;
}

export interface ArchiveResult {
  name: string;
  digest: Digest;
  files: number;
  bytes: number;
}

export interface ArchiveStats {
  files: number;
  bytes: number;
  /** Files whose hash came from the hash cache. */
  hashCacheHits: number;
  hashedFiles: number;
  hashedBytes: number;
  upload: UploadStats;
  phasesMs: { walk: number; hash: number; upload: number };
}

export interface ArchiveOptions {
  cas: CasClient;
  log: Logger;
  /** SQLite file of the hash cache; undefined hashes every file every time. */
  hashCachePath?: string;
}

/**
 * Builds and uploads the manifests of `targets` together: every file is
 * hashed at most once across all of them, and all blobs and manifests share
 * one round of presence checks. Writes each `.isolated` file last, only once
 * everything it names is on the server.
 */
export async function archiveTargets(targets: readonly ArchiveTarget[], options: ArchiveOptions): Promise<{ results: ArchiveResult[]; stats: ArchiveStats }> {
  const t0 = performance.now();
  const trees = await Promise.all(targets.map((t) => collectTree(t.root, t.paths, t.source)));
  const t1 = performance.now();
  const hashing = await hashFiles(trees.flat().filter((e): e is TreeFile => e.kind === "file"), options);
  const t2 = performance.now();

  const manifests = targets.map((target, i) => encodeIsolated(buildIsolated(target, trees[i]!, hashing.digests)));
  const sources: UploadSource[] = [...hashing.digests.entries()].map(([path, digest]) => ({ digest, path }));
  for (const m of manifests) sources.push({ digest: m.digest, bytes: m.bytes });
  const upload = await uploadMissing(options.cas, sources, options.log);
  const t3 = performance.now();

  await Promise.all(
    targets.map(async (target, i) => {
      if (!target.isolatedPath) return;
      await mkdir(dirname(target.isolatedPath), { recursive: true });
      await writeFile(target.isolatedPath, manifests[i]!.bytes);
    }),
  );
  const results = targets.map((target, i) => {
    const files = trees[i]!.filter((e): e is TreeFile => e.kind === "file");
    return { name: target.name, digest: manifests[i]!.digest, files: files.length, bytes: files.reduce((s, f) => s + f.size, 0) };
  });
  return {
    results,
    stats: {
      files: hashing.digests.size,
      bytes: [...hashing.digests.values()].reduce((s, d) => s + d.size, 0),
      hashCacheHits: hashing.cacheHits,
      hashedFiles: hashing.hashedFiles,
      hashedBytes: hashing.hashedBytes,
      upload,
      phasesMs: { walk: t1 - t0, hash: t2 - t1, upload: t3 - t2 },
    },
  };
}

async function hashFiles(files: readonly TreeFile[], { hashCachePath, log }: ArchiveOptions) {
  const unique = new Map<string, TreeFile>();
  for (const f of files) unique.set(f.abs, f);
  const cache = hashCachePath ? HashCache.open(hashCachePath) : undefined;
  const digests = new Map<string, Digest>();
  const toHash: TreeFile[] = [];
  try {
    for (const f of unique.values()) {
      const hash = cache?.lookup(f);
      if (hash) digests.set(f.abs, { hash, size: f.size });
      else toHash.push(f);
    }
    if (toHash.length > 0) {
      const hashedAtNs = BigInt(Date.now()) * 1_000_000n;
      const pool = new HashPool();
      try {
        const hashed = await pool.hashAll(toHash.map((f) => f.abs));
        toHash.forEach((f, i) => {
          digests.set(f.abs, hashed[i]!);
          // A file that changed size since lstat is not remembered: its stat key is stale.
          if (hashed[i]!.size === f.size) cache?.record(f, hashed[i]!.hash, hashedAtNs);
        });
      } finally {
        pool.close();
      }
    }
  } finally {
    const warning = cache?.close();
    if (warning) log.warn(warning);
  }
  return {
    digests,
    cacheHits: unique.size - toHash.length,
    hashedFiles: toHash.length,
    hashedBytes: toHash.reduce((s, f) => s + f.size, 0),
  };
}

function buildIsolated(target: ArchiveTarget, tree: readonly TreeEntry[], digests: Map<string, Digest>): Isolated {
  // No prototype: a file may be called __proto__.
  const files: Record<string, IsolatedEntry> = Object.create(null);
  for (const e of tree) {
    if (e.kind === "symlink") {
      files[e.rel] = { l: e.target };
    } else {
      const d = digests.get(e.abs)!;
      files[e.rel] = { h: d.hash, s: d.size, m: e.mode };
    }
  }
  // Refused here rather than by run-isolated later: e.g. build/latest (a symlink) listed with build/latest/bin/x.
  checkNoEntryUnderEntry(files, target.source);
  const isolated: Isolated = { algo: "sha-256", version: ISOLATED_VERSION, files };
  if (target.command.length > 0) isolated.command = target.command;
  isolated.relative_cwd = target.relativeCwd;
  if (target.readOnly !== undefined) isolated.read_only = target.readOnly;
  return isolated;
}

/** Relative path with `/` separators, `.` for the same directory. */
export function relativeTreePath(root: string, path: string): string {
  return relative(root, path).split(sep).join("/") || ".";
}

/** The target for paths and a command given on the command line, rooted at `root`. */
export function targetFromPaths(input: { root: string; paths: string[]; command: string[]; relativeCwd?: string; isolatedPath?: string; readOnly?: 0 | 1 | 2 }): ArchiveTarget {
  const root = resolve(input.root);
  return {
    name: input.isolatedPath ? baseName(input.isolatedPath) : "archive",
    isolatedPath: input.isolatedPath,
    root,
    paths: input.paths.map((p) => resolve(root, p)),
    command: input.command,
    relativeCwd: input.relativeCwd ?? ".",
    readOnly: input.readOnly,
    source: "command line",
  };
}

/**
 * The tree root for an .isolate's files and its command's directory. Like
 * isolate's determine_root_dir, it also counts how far a relative command
 * argument climbs with `..` from the command's directory: Kudu's
 * build/isolate/X.isolate runs `../../build/latest/bin/X`, which resolves at
 * run time only if the tree holds the directory two levels up.
 */
export function rootFor(files: readonly string[], commandDir: string, command: readonly string[] = []): string {
  const climbed: string[] = [];
  for (let arg of command) {
    if (!arg.startsWith("../")) continue;
    let dir = commandDir;
    while (arg.startsWith("../")) {
      arg = arg.slice(3);
      dir = dirname(dir);
    }
    climbed.push(`${dir}/`);
  }
  return commonRoot([...files, ...climbed], commandDir);
}

export function baseName(isolatedPath: string): string {
  return isolatedPath.split(sep).pop()!.replace(/\.isolated$/, "");
}
