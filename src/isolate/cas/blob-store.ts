import type { Digest } from "../digest.ts";

/** A byte range of a blob, both ends inclusive, as in HTTP `Range`. */
export interface ByteRange {
  start: number;
  end: number;
}

/** What `BlobStore.get` answers for a present blob. */
export interface BlobRead {
  /** Size of the whole blob, whatever range was asked for. */
  size: number;
  /** The bytes asked for: a lazily read Blob (files) or a stream (remote stores). */
  body: Blob | ReadableStream<Uint8Array>;
}

export interface BlobStoreStats {
  blobs: number;
  bytes: number;
  /** Lookups (presence checks and reads) that found the blob. */
  hits: number;
  /** Lookups that did not. */
  misses: number;
  evictions: number;
  evictedBytes: number;
}

export interface TrimPolicy {
  /** Keep the store at or under this many bytes. */
  maxBytes: number;
  /** Never evict a blob used more recently than this, so an archive in progress stays whole. */
  minAgeMs: number;
}

/**
 * Content-addressed storage of blobs keyed by SHA-256. The seam between the
 * CAS HTTP API and where bytes live (a directory now, S3 later); every
 * implementation passes `test/isolate/blob-store.conformance.ts`.
 */
export interface BlobStore {
  /**
   * Of `digests`, the ones not stored (in the order given). Asking counts as
   * use: present blobs have their last-use time refreshed, as isolate's
   * pre-upload "tag" did, so what an archive just checked is not evicted
   * before the job that needs it runs.
   */
  findMissing(digests: readonly Digest[]): Promise<Digest[]>;
  /**
   * Stores `body` under `digest`, verifying hash and size while streaming;
   * the blob becomes visible only once verified. Throws DtError
   * `digest_mismatch` naming expected and actual digests, leaving nothing.
   * `created` is false when the blob was already there (the body is then
   * drained without being written).
   */
  put(digest: Digest, body: ReadableStream<Uint8Array> | Uint8Array): Promise<{ created: boolean }>;
  /** The blob's bytes (or a range of them), or null when absent. */
  get(hash: string, range?: ByteRange): Promise<BlobRead | null>;
  /** Size of a stored blob, or null; counts as neither hit nor miss. */
  sizeOf(hash: string): Promise<number | null>;
  /** Removes a blob; true if it was there. */
  delete(hash: string): Promise<boolean>;
  /** Evicts least recently used blobs until the policy holds. */
  trim(policy: TrimPolicy): Promise<{ blobs: number; bytes: number }>;
  stats(): Promise<BlobStoreStats>;
  /**
   * Resolves when the store can be used now (a directory: there and
   * writable; S3: the bucket answers); rejects with a DtError saying what is
   * wrong otherwise. For readiness probes: callers bound the wait themselves.
   */
  ping(): Promise<void>;
  close(): Promise<void>;
}
