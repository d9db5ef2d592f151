import { DtError } from "../../common/errors.ts";
import { type Digest, checkHash, checkSize } from "../digest.ts";

/**
 * The batch upload body: many small blobs in one request, because one HTTP
 * round trip per file is what made isolate slow on trees of many small files
 * (luci-go packed files under 1 MB into bundles for the same reason).
 *
 * Framing, repeated until the end of the body:
 *   `<64 hex hash> <decimal size>\n` followed by exactly `size` bytes.
 */
export const BATCH_CONTENT_TYPE = "application/x-dt-blob-batch";

export interface BatchEntry {
  digest: Digest;
  bytes: Uint8Array;
}

/** Encodes entries into one batch body. */
export function encodeBatch(entries: readonly BatchEntry[]): Uint8Array {
  const encoder = new TextEncoder();
  const parts: Uint8Array[] = [];
  for (const { digest, bytes } of entries) {
    parts.push(encoder.encode(`${digest.hash} ${digest.size}\n`), bytes);
  }
  return Buffer.concat(parts);
}

/** Longest header line we accept: 64 hex, a space, 16 digits, newline. */
const MAX_HEADER = 64 + 1 + 16 + 1;

/** Decodes a batch body; any framing error is `invalid_input` naming the offset. */
export function decodeBatch(body: Uint8Array, maxEntries: number): BatchEntry[] {
  const entries: BatchEntry[] = [];
  let offset = 0;
  while (offset < body.byteLength) {
    const newline = body.subarray(offset, offset + MAX_HEADER).indexOf(10);
    if (newline < 0) {
      throw new DtError("invalid_input", `batch: no "<hash> <size>\\n" header at byte ${offset}`);
    }
    const header = new TextDecoder().decode(body.subarray(offset, offset + newline));
    const [hashText, sizeText, ...rest] = header.split(" ");
    if (rest.length > 0 || !sizeText || !/^\d+$/.test(sizeText)) {
      throw new DtError("invalid_input", `batch: malformed header ${JSON.stringify(header)} at byte ${offset}; expected "<hash> <size>"`);
    }
    const digest = { hash: checkHash(hashText, `batch entry ${entries.length} hash`), size: checkSize(Number(sizeText), `batch entry ${entries.length} size`) };
    const start = offset + newline + 1;
    if (start + digest.size > body.byteLength) {
      throw new DtError("invalid_input", `batch: entry ${entries.length} (${digest.hash}) declares ${digest.size} bytes but the body ends after ${body.byteLength - start}`);
    }
    if (entries.length >= maxEntries) {
      throw new DtError("too_large", `batch: more than ${maxEntries} entries; split the batch`);
    }
    entries.push({ digest, bytes: body.subarray(start, start + digest.size) });
    offset = start + digest.size;
  }
  return entries;
}

/** Blobs below this travel in batches; luci-go bundled files under 1 MB for the same reason. */
export const SMALL_BLOB_BYTES = 1 << 20;
/** One batch: amortizes the round trip while holding little in memory per request. */
const BATCH_BYTES = 8 << 20;
const BATCH_ITEMS = 2_000;

/**
 * Groups small blobs into batches of at most 8 MiB and 2,000 entries, in
 * the order given; used for uploads and downloads alike.
 */
export function groupIntoBatches<T>(items: readonly T[], sizeOf: (item: T) => number): T[][] {
  const batches: T[][] = [];
  let current: T[] = [];
  let bytes = 0;
  for (const item of items) {
    const size = sizeOf(item);
    if (current.length > 0 && (bytes + size > BATCH_BYTES || current.length >= BATCH_ITEMS)) {
      batches.push(current);
      current = [];
      bytes = 0;
    }
    current.push(item);
    bytes += size;
  }
  if (current.length > 0) batches.push(current);
  return batches;
}
