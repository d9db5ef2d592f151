import { readFileSync } from "node:fs";
import { mapLimit } from "../../common/concurrency.ts";
import { DtError } from "../../common/errors.ts";
import type { Logger } from "../../common/log.ts";
import { type BatchEntry, SMALL_BLOB_BYTES, groupIntoBatches } from "../cas/batch.ts";
import type { CasClient } from "../cas/client.ts";
import type { Digest } from "../digest.ts";

/** Something to upload: a file on disk, or bytes in memory (manifests). */
export interface UploadSource {
  digest: Digest;
  path?: string;
  bytes?: Uint8Array;
}

export interface UploadStats {
  /** Distinct digests asked about. */
  checked: number;
  uploadedItems: number;
  uploadedBytes: number;
  batches: number;
}

/** Requests in flight: saturates loopback and a LAN without swamping the server. */
const UPLOAD_CONCURRENCY = 8;

/**
 * Uploads what the server lacks: one round of presence checks for all
 * sources, then small blobs in batches and large ones streamed from disk,
 * at most UPLOAD_CONCURRENCY requests at a time.
 */
export async function uploadMissing(cas: CasClient, sources: readonly UploadSource[], log: Logger): Promise<UploadStats> {
  const byHash = new Map<string, UploadSource>();
  for (const s of sources) if (!byHash.has(s.digest.hash)) byHash.set(s.digest.hash, s);
  const missing = await cas.findMissing([...byHash.values()].map((s) => s.digest));
  const small: UploadSource[] = [];
  const large: UploadSource[] = [];
  for (const d of missing) {
    const source = byHash.get(d.hash);
    if (!source) throw new DtError("unreachable", `the isolate server ${cas.server} answered a digest it was not asked about (${d.hash}); is it a dt CAS?`);
    (source.digest.size < SMALL_BLOB_BYTES ? small : large).push(source);
  }
  const batches = groupIntoBatches(small, (s) => s.digest.size);
  log.debug(`${byHash.size} digests checked, ${missing.length} missing: ${small.length} small in ${batches.length} batches, ${large.length} large`);

  type Job = { batch: UploadSource[] } | { blob: UploadSource };
  // Large blobs first: they take longest, and small batches then fill the gaps at the end.
  const jobs: Job[] = [...large.sort((a, b) => b.digest.size - a.digest.size).map((blob) => ({ blob })), ...batches.map((batch) => ({ batch }))];
  await mapLimit(jobs, UPLOAD_CONCURRENCY, async (job) => {
    if ("blob" in job) {
      await cas.putBlob(job.blob.digest, job.blob.bytes ?? Bun.file(job.blob.path!));
      return;
    }
    // Small files read synchronously: microseconds each, cheaper than a promise per file.
    const entries: BatchEntry[] = job.batch.map((s) => ({ digest: s.digest, bytes: s.bytes ?? readFileSync(s.path!) }));
    await cas.putBatch(entries);
  });
  return {
    checked: byHash.size,
    uploadedItems: missing.length,
    uploadedBytes: missing.reduce((sum, d) => sum + d.size, 0),
    batches: batches.length,
  };
}
