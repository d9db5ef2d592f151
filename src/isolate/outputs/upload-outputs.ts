import type { Logger } from "../../common/log.ts";
import { formatBytes } from "../../common/units.ts";
import { HashPool } from "../archive/hash-pool.ts";
import { type UploadStats, uploadMissing } from "../archive/upload.ts";
import type { CasClient } from "../cas/client.ts";
import { ISOLATED_VERSION, type Isolated, type IsolatedEntry, encodeIsolated } from "../manifest.ts";
import { type OutputLimits, collectOutputs } from "./collect.ts";
import { OUTPUTS_NAMESPACE, type OutputsRef } from "./outputs-ref.ts";

/**
 * Bytes of outputs one attempt may upload: 1 GiB holds any test report and
 * a few core dumps, and keeps one runaway test from filling the CAS.
 */
export const DEFAULT_MAX_OUTPUTS_BYTES = 2 ** 30;
/**
 * Files one attempt may upload. A manifest entry is ~150 bytes of JSON, so
 * 100,000 files make a 15 MB manifest, far below what run-isolated reads
 * (MAX_MANIFEST_BYTES); a test writing more is writing a cache, not results.
 */
export const DEFAULT_MAX_OUTPUTS_FILES = 100_000;

export interface UploadOutputsOptions {
  cas: CasClient;
  limits: OutputLimits;
  /** How the cap was given, for the message (e.g. `--max-outputs-size 1GiB`). */
  capName: string;
  log: Logger;
}

export interface OutputsUpload {
  /** null when there was nothing to upload, or it was not (over the cap). */
  ref: OutputsRef | null;
  files: number;
  bytes: number;
  upload: UploadStats | null;
  /** Said on the attempt: over the cap, entries left out. null when all went as expected. */
  note: string | null;
}

/**
 * Uploads the files under `dir` to the CAS as an `.isolated` manifest (the
 * format of the inputs, without a command), as luci's run_isolated does
 * with ISOLATED_OUTDIR: only blobs the CAS lacks travel, so outputs equal to
 * an earlier attempt's cost one presence check. An empty directory gives no
 * ref. Over a limit nothing is uploaded and the note says why: a partial
 * tree would pass for the whole. CAS failures (after the client's retries)
 * are thrown for the caller to record; they say nothing about the test.
 *
 * @example const { ref, note } = await uploadOutputs(outDir, { cas, limits, capName: "--max-outputs-size 1GiB", log });
 */
export async function uploadOutputs(dir: string, o: UploadOutputsOptions): Promise<OutputsUpload> {
  const collected = await collectOutputs(dir, o.limits);
  const skippedNote = collected.skipped.length === 0 ? null
    : `left out of the outputs: ${collected.skipped.slice(0, 3).join(", ")}${collected.skipped.length > 3 ? ` and ${collected.skipped.length - 3} more` : ""}`;
  if (collected.overLimit) {
    const why = collected.overLimit.dirs
      ? `outputs of more than ${o.limits.maxFiles} directories exceed the ${o.limits.maxFiles} an attempt may upload`
      : collected.overLimit.files
      ? `outputs of more than ${o.limits.maxFiles} files exceed the ${o.limits.maxFiles} an attempt may upload`
      : `outputs of ${formatBytes(collected.bytes)} exceed ${o.capName}`;
    return { ref: null, files: collected.entries.length, bytes: collected.bytes, upload: null, note: `${why}; nothing uploaded` };
  }
  if (collected.entries.length === 0) return { ref: null, files: 0, bytes: 0, upload: null, note: skippedNote };

  const files = collected.entries.filter((e) => e.kind === "file");
  const pool = new HashPool(Math.min(4, Math.max(1, Math.ceil(files.length / 64))));
  let digests;
  try {
    digests = await pool.hashAll(files.map((f) => f.abs), files.map((f) => f.identity));
  } finally {
    pool.close();
  }
  // No prototype: a test may well write a file called __proto__.
  const entries: Record<string, IsolatedEntry> = Object.create(null);
  let bytes = 0;
  files.forEach((f, i) => {
    entries[f.rel] = { h: digests[i]!.hash, s: digests[i]!.size, m: f.mode };
    bytes += digests[i]!.size;
  });
  for (const e of collected.entries) if (e.kind === "symlink") entries[e.rel] = { l: e.target };
  const manifest = encodeIsolated({ algo: "sha-256", version: ISOLATED_VERSION, files: entries } satisfies Isolated);

  // The blobs first, the manifest after: a manifest on the CAS always names blobs that are there.
  const upload = await uploadMissing(o.cas, files.map((f, i) => ({ digest: digests[i]!, path: f.abs, identity: f.identity })), o.log);
  const manifestUpload = await uploadMissing(o.cas, [{ digest: manifest.digest, bytes: manifest.bytes }], o.log);
  upload.checked += manifestUpload.checked;
  upload.uploadedItems += manifestUpload.uploadedItems;
  upload.uploadedBytes += manifestUpload.uploadedBytes;
  upload.batches += manifestUpload.batches;
  return {
    ref: { isolated: manifest.digest.hash, isolatedserver: o.cas.server, namespace: OUTPUTS_NAMESPACE },
    files: collected.entries.length,
    bytes,
    upload,
    note: skippedNote,
  };
}
