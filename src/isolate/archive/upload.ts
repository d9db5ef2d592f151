import { closeSync, readFileSync, readSync } from "node:fs";
import { mapLimit } from "../../common/concurrency.ts";
import { DtError } from "../../common/errors.ts";
import type { Logger } from "../../common/log.ts";
import { type BatchEntry, SMALL_BLOB_BYTES, groupIntoBatches } from "../cas/batch.ts";
import type { CasClient } from "../cas/client.ts";
import type { Digest } from "../digest.ts";
import { type FileIdentity, openChecked, pathOfFd } from "../outputs/open-checked.ts";

/** Something to upload: a file on disk, or bytes in memory (manifests). */
export interface UploadSource {
  digest: Digest;
  path?: string;
  bytes?: Uint8Array;
  /** Set for a file the uploader does not trust (a test's outputs): read only if it is still the file listed, and no more of it than its digest's size. */
  identity?: FileIdentity;
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
      const { blob } = job;
      if (blob.bytes || !blob.identity) {
        await cas.putBlob(blob.digest, blob.bytes ?? Bun.file(blob.path!));
        return;
      }
      const fd = openChecked(blob.path!, blob.identity);
      try {
        await cas.putBlob(blob.digest, Bun.file(pathOfFd(fd, blob.path!)).slice(0, blob.digest.size));
      } finally {
        closeSync(fd);
      }
      return;
    }
    // Small files read synchronously: microseconds each, cheaper than a promise per file.
    const entries: BatchEntry[] = job.batch.map((s) => ({ digest: s.digest, bytes: s.bytes ?? readSmall(s) }));
    await cas.putBatch(entries);
  });
  return {
    checked: byHash.size,
    uploadedItems: missing.length,
    uploadedBytes: missing.reduce((sum, d) => sum + d.size, 0),
    batches: batches.length,
  };
}

/** A small source's bytes; an untrusted file through openChecked (never blocking: a fifo is refused before any read). */
function readSmall(s: UploadSource): Uint8Array {
  if (!s.identity) return readFileSync(s.path!);
  const fd = openChecked(s.path!, s.identity);
  try {
    const bytes = new Uint8Array(s.digest.size);
    let at = 0;
    for (let n; at < bytes.length && (n = readSync(fd, bytes, at, bytes.length - at, at)) > 0; ) at += n;
    if (at < bytes.length) throw new DtError("invalid_input", `${s.path} shrank after it was hashed (${s.digest.size} → ${at} bytes); not uploaded`);
    return bytes;
  } finally {
    closeSync(fd);
  }
}
