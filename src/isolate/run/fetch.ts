import { mapLimit } from "../../common/concurrency.ts";
import { DtError } from "../../common/errors.ts";
import { SMALL_BLOB_BYTES, groupIntoBatches } from "../cas/batch.ts";
import type { CasClient } from "../cas/client.ts";
import type { LocalCache } from "../cache/local-cache.ts";
import { type Digest, checkBytesMatch, checkHash, formatDigest } from "../digest.ts";
import { type Isolated, type IsolatedEntry, checkNoEntryUnderEntry, parseIsolated } from "../manifest.ts";

/** Blob downloads in flight: enough to fill loopback or a LAN, bounded for the server's sake. */
const FETCH_CONCURRENCY = 16;

/** A manifest with its includes merged in: every entry of the tree. */
export interface ResolvedTree {
  files: Record<string, IsolatedEntry>;
  command: string[];
  relativeCwd: string;
  readOnly: 0 | 1 | 2;
}

export interface FetchStats {
  items_hot: number;
  bytes_hot: number;
  items_cold: number;
  bytes_cold: number;
}

/**
 * Fetches the manifest `hash` and its includes (verifying each), merging
 * them as isolate did: the root and earlier includes win on conflicts, and
 * command, relative_cwd and read_only come from the first manifest that has
 * them.
 *
 * This is where manifests are checked before use, the one place that sees them all:
 * the CAS stores any bytes under their digest and cannot tell a manifest
 * from a file (nothing in its protocol marks one, and a hostile uploader
 * would not), and the master checks at submit only the manifests in the
 * CAS it serves itself (see master/jobs/manifest-check.ts); a separate
 * isolate server it never reads. Every manifest a slave or run-isolated maps passes
 * here, verified against its digest, before mapTree creates anything:
 * parseIsolated refuses absolute and `..` paths, paths given twice,
 * symlinks leaving the tree, entries other than files and symlinks, and
 * entries below another; the union with the includes is checked again.
 */
export async function fetchManifest(cas: CasClient, hash: string): Promise<ResolvedTree> {
  const files: Record<string, IsolatedEntry> = Object.create(null);
  let command: string[] | undefined;
  let relativeCwd: string | undefined;
  let readOnly: 0 | 1 | 2 | undefined;
  const seen = new Set<string>();
  const visit = async (h: string, what: string): Promise<void> => {
    checkHash(h, what);
    if (seen.has(h)) return;
    seen.add(h);
    let bytes: Uint8Array;
    try {
      bytes = await cas.getBytes(h);
    } catch (err) {
      if (err instanceof DtError && err.code === "not_found") {
        throw new DtError("not_found", `${what} ${h} not found in ${cas.server}; did you run dt archive against ${cas.server}?`, { cause: err });
      }
      throw err;
    }
    checkBytesMatch(bytes, { hash: h, size: bytes.byteLength }, `${what} ${h} as the server sent it`);
    const isolated: Isolated = parseIsolated(bytes, `manifest ${h}`);
    for (const [path, entry] of Object.entries(isolated.files)) {
      if (!(path in files)) files[path] = entry;
    }
    command ??= isolated.command;
    relativeCwd ??= isolated.relative_cwd;
    readOnly ??= isolated.read_only;
    for (const include of isolated.includes ?? []) await visit(include, `include of ${h}`);
  };
  await visit(hash, "manifest");
  // Each manifest was checked alone; a symlink from one with a file below it from another must fail too.
  checkNoEntryUnderEntry(files, `manifest ${hash} with its includes`);
  return { files, command: command ?? [], relativeCwd: relativeCwd ?? ".", readOnly: readOnly ?? 1 };
}

/** Bytes of the tree's distinct blobs: what the cache must hold at once to run it. */
export function treeBytes(tree: ResolvedTree): number {
  const sizes = new Map<string, number>();
  for (const entry of Object.values(tree.files)) if (entry.h !== undefined) sizes.set(entry.h, entry.s!);
  let total = 0;
  for (const size of sizes.values()) total += size;
  return total;
}

/**
 * Makes every blob of the tree present in the cache: looks each up (pinning
 * it for this run) and downloads the missing ones concurrently, each
 * verified before it enters the cache. Returns the cache path per digest.
 */
export async function fetchBlobs(cas: CasClient, cache: LocalCache, tree: ResolvedTree): Promise<{ paths: Map<string, string>; stats: FetchStats }> {
  const digests = new Map<string, Digest>();
  for (const entry of Object.values(tree.files)) {
    if (entry.h !== undefined) digests.set(entry.h, { hash: entry.h, size: entry.s! });
  }
  const paths = new Map<string, string>();
  const stats: FetchStats = { items_hot: 0, bytes_hot: 0, items_cold: 0, bytes_cold: 0 };
  const cold: Digest[] = [];
  const wanted = [...digests.values()];
  const found = await cache.lookupMany(wanted);
  for (const [i, d] of wanted.entries()) {
    const path = found[i];
    if (path) {
      paths.set(d.hash, path);
      stats.items_hot++;
      stats.bytes_hot += d.size;
    } else {
      cold.push(d);
    }
  }
  // Large blobs stream one per request, largest first so the long downloads
  // overlap the many short ones; small ones come in batches, one round trip
  // for up to 2,000 files.
  const large = cold.filter((d) => d.size >= SMALL_BLOB_BYTES).sort((a, b) => b.size - a.size);
  const batches = groupIntoBatches(cold.filter((d) => d.size < SMALL_BLOB_BYTES), (d) => d.size);
  type Job = { blob: Digest } | { batch: Digest[] };
  const jobs: Job[] = [...large.map((blob) => ({ blob })), ...batches.map((batch) => ({ batch }))];
  await mapLimit(jobs, FETCH_CONCURRENCY, async (job) => {
    if ("blob" in job) {
      paths.set(job.blob.hash, await fetchOne(cas, cache, job.blob));
    } else {
      for (const { digest, bytes } of await fetchBatch(cas, job.batch)) paths.set(digest.hash, cache.insertBytes(digest, bytes));
    }
  });
  for (const d of cold) {
    stats.items_cold++;
    stats.bytes_cold += d.size;
  }
  return { paths, stats };
}

/**
 * A manifest found with a blob of it gone was archived, so the blob was
 * either never uploaded (an archive cut short) or evicted since: the CAS's
 * size limit or an S3 lifecycle rule removed it while the job waited.
 */
const EVICTED_HINT = "and submit again: it was never uploaded, or the CAS evicted it since (dt isolate-server --max-size, an S3 lifecycle rule)";

async function fetchBatch(cas: CasClient, digests: Digest[]) {
  try {
    return await cas.getBatch(digests);
  } catch (err) {
    if (err instanceof DtError && err.code === "not_found") {
      throw new DtError("not_found", `blobs named by the manifest not found in ${cas.server}; archive the tree again (${err.message}) ${EVICTED_HINT}`, { cause: err });
    }
    throw err;
  }
}

/** Downloads one blob into the cache; used again when a cached file vanished before mapping. */
export async function fetchOne(cas: CasClient, cache: LocalCache, d: Digest): Promise<string> {
  try {
    return await cache.insert(d, await cas.getBlob(d.hash));
  } catch (err) {
    if (err instanceof DtError && err.code === "not_found") {
      throw new DtError("not_found", `blob ${formatDigest(d)} named by the manifest not found in ${cas.server}; archive the tree again ${EVICTED_HINT}`, { cause: err });
    }
    throw err;
  }
}
