import { DtError } from "../common/errors.ts";

/**
 * A blob's identity: SHA-256 of its bytes, in lower-case hex, and its size.
 * Size is part of the identity (as in REAPI) so a truncated upload can never
 * pass for the real blob.
 */
export interface Digest {
  hash: string;
  size: number;
}

const HASH_RE = /^[0-9a-f]{64}$/;

/** The digest of zero bytes; it always exists and is never stored. */
export const EMPTY_DIGEST: Digest = {
  hash: "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
  size: 0,
};

export function isHash(value: unknown): value is string {
  return typeof value === "string" && HASH_RE.test(value);
}

/** Throws `invalid_input` unless `hash` is 64 lower-case hex digits. */
export function checkHash(hash: unknown, what = "hash"): string {
  if (!isHash(hash)) {
    throw new DtError("invalid_input", `${what} must be 64 lower-case hex digits (SHA-256), got ${JSON.stringify(hash)?.slice(0, 80)}`);
  }
  return hash;
}

/** Throws `invalid_input` unless `size` is a non-negative safe integer. */
export function checkSize(size: unknown, what = "size"): number {
  if (typeof size !== "number" || !Number.isSafeInteger(size) || size < 0) {
    throw new DtError("invalid_input", `${what} must be a non-negative integer, got ${JSON.stringify(size)?.slice(0, 40)}`);
  }
  return size;
}

/** Validates an untrusted `{hash, size}` value. */
export function parseDigest(value: unknown, what = "digest"): Digest {
  if (typeof value !== "object" || value === null) {
    throw new DtError("invalid_input", `${what} must be an object {"hash": "<sha256 hex>", "size": <bytes>}`);
  }
  const v = value as Record<string, unknown>;
  return { hash: checkHash(v.hash, `${what}.hash`), size: checkSize(v.size, `${what}.size`) };
}

export function formatDigest(d: Digest): string {
  return `${d.hash}/${d.size}`;
}

export function digestOfBytes(bytes: Uint8Array | string): Digest {
  const data = typeof bytes === "string" ? new TextEncoder().encode(bytes) : bytes;
  return { hash: new Bun.CryptoHasher("sha256").update(data).digest("hex"), size: data.byteLength };
}

/**
 * Throws `digest_mismatch` naming both digests unless `bytes` are `expected`;
 * `what` says which blob, e.g. "batch entry 3".
 */
export function checkBytesMatch(bytes: Uint8Array, expected: Digest, what: string): void {
  const actual = digestOfBytes(bytes);
  if (actual.hash !== expected.hash || actual.size !== expected.size) {
    throw new DtError("digest_mismatch", `${what}: content does not match its digest: expected ${formatDigest(expected)}, got ${formatDigest(actual)}`);
  }
}

/**
 * Hashes a file by streaming it; never holds it whole in memory.
 * Returns the digest of the bytes actually read.
 */
export async function digestOfFile(path: string): Promise<Digest> {
  const hasher = new Bun.CryptoHasher("sha256");
  let size = 0;
  for await (const chunk of Bun.file(path).stream()) {
    hasher.update(chunk);
    size += chunk.byteLength;
  }
  return { hash: hasher.digest("hex"), size };
}

/**
 * Wraps a byte stream so that it is hashed and counted as it flows, and fails
 * with `digest_mismatch` naming both digests when it ends differently from
 * `expected` (or `too_large` as soon as it runs past the expected size).
 */
export function verifyingStream(
  source: ReadableStream<Uint8Array>,
  expected: Digest,
  what: string,
): ReadableStream<Uint8Array> {
  const hasher = new Bun.CryptoHasher("sha256");
  let size = 0;
  return source.pipeThrough(
    new TransformStream<Uint8Array, Uint8Array>({
      transform(chunk, controller) {
        size += chunk.byteLength;
        if (size > expected.size) {
          throw new DtError("digest_mismatch", `${what}: body is longer than the declared size ${expected.size} (expected ${formatDigest(expected)})`);
        }
        hasher.update(chunk);
        controller.enqueue(chunk);
      },
      flush() {
        const actual = { hash: hasher.digest("hex"), size };
        if (actual.hash !== expected.hash || actual.size !== expected.size) {
          throw new DtError("digest_mismatch", `${what}: content does not match its digest: expected ${formatDigest(expected)}, got ${formatDigest(actual)}`);
        }
      },
    }),
  );
}
