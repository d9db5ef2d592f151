import {
  CopyObjectCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  type S3Client,
} from "@aws-sdk/client-s3";
import type { Clock } from "../../common/clock.ts";
import { mapLimit } from "../../common/concurrency.ts";
import { DtError } from "../../common/errors.ts";
import { type S3Location, checkBucket, isNotFound, keyOf, putStream, s3Call, s3Error } from "../../common/s3.ts";
import { EMPTY_DIGEST, type Digest, checkBytesMatch, formatDigest, verifyingStream } from "../digest.ts";
import type { BlobRead, BlobStore, BlobStoreStats, ByteRange, TrimPolicy } from "./blob-store.ts";

/** The object metadata (x-amz-meta-dt-last-use) holding a blob's last use, epoch ms. */
const LAST_USE_META = "dt-last-use";

/**
 * A blob used when its recorded use is older than this gets a fresh one
 * (a metadata-only CopyObject of the object onto itself), so a bucket
 * lifecycle rule that expires blobs N days after their last modification
 * never removes one used within the last N-1 days. Once a day: recency is
 * only needed at the granularity of lifecycle rules (days), and a copy per
 * presence check would double the cost of every archive.
 */
export const DEFAULT_REFRESH_AFTER_MS = 24 * 3_600_000;

/**
 * HEAD requests in flight for one presence check. S3 serves at least 5,500
 * reads a second per prefix; 32 at ~10 ms each stays well under, and checks
 * 10,000 digests in about 3 s.
 */
const HEAD_CONCURRENCY = 32;

/** S3's largest single PUT and CopyObject (5 GiB); larger blobs would need multipart, which this store does not do. */
export const S3_MAX_BLOB_BYTES = 5 * 2 ** 30;

export interface S3BlobStoreOptions {
  s3: S3Client;
  location: S3Location;
  clock: Clock;
  /** See DEFAULT_REFRESH_AFTER_MS; tests lower it. */
  refreshAfterMs?: number;
}

/**
 * A BlobStore in an S3 bucket: blobs at `<prefix>/blobs/<sha256>`.
 *
 * put: bytes already in memory (batch uploads) are verified first and PUT
 * to their key. A stream is PUT to `<prefix>/tmp/<uuid>` while it is
 * verified, then copied to its key and the temporary object deleted. A
 * direct PUT cannot be trusted: the digest is known only after the last
 * byte, and by then S3 may have stored the object (and s3rver writes even an
 * aborted PUT in place). A crash can leave objects under `tmp/`; a lifecycle
 * rule expiring `<prefix>/tmp/` after a day removes them (docs/deployment.md#s3).
 *
 * Eviction: S3 has no access times and listing a large bucket to rank blobs
 * would cost a request per 1,000 blobs at every trim, so `trim` does
 * nothing here: a bucket lifecycle rule expires `<prefix>/blobs/` objects,
 * and every use (presence check, read, re-upload) refreshes a blob's
 * recorded use at most once a day (DEFAULT_REFRESH_AFTER_MS), which also
 * renews its LastModified on S3, so the rule works as "unused for N days".
 * The commands refuse `--max-size` with an S3 store.
 */
export class S3BlobStore implements BlobStore {
  private readonly s3: S3Client;
  private readonly location: S3Location;
  private readonly clock: Clock;
  private readonly refreshAfterMs: number;
  private readonly counters = { hits: 0, misses: 0 };
  /** Recency refreshes in flight; close() waits for them. */
  private readonly pendingRefreshes = new Set<Promise<void>>();

  private constructor(options: S3BlobStoreOptions) {
    this.s3 = options.s3;
    this.location = options.location;
    this.clock = options.clock;
    this.refreshAfterMs = options.refreshAfterMs ?? DEFAULT_REFRESH_AFTER_MS;
  }

  /** Opens the store after checking that its bucket is there. */
  static async open(options: S3BlobStoreOptions): Promise<S3BlobStore> {
    await checkBucket(options.s3, options.location, `blob store ${describe(options.location)}`);
    return new S3BlobStore(options);
  }

  private key(hash: string): string {
    return keyOf(this.location, `blobs/${hash}`);
  }

  /** Size and recorded use of a stored blob, or null. */
  private async head(hash: string): Promise<{ size: number; lastUseMs: number } | null> {
    try {
      const head = await this.s3.send(new HeadObjectCommand({ Bucket: this.location.bucket, Key: this.key(hash) }));
      return { size: head.ContentLength ?? 0, lastUseMs: lastUseOf(head) };
    } catch (err) {
      if (isNotFound(err)) return null;
      throw s3Error(err, `HEAD ${this.where(hash)}`);
    }
  }

  /** Records a use now when the recorded one is older than refreshAfterMs; best effort, in the background. */
  private used(hash: string, lastUseMs: number): void {
    const now = this.clock.now();
    if (now - lastUseMs <= this.refreshAfterMs) return;
    const key = this.key(hash);
    const copy = this.s3
      .send(new CopyObjectCommand({
        Bucket: this.location.bucket, Key: key, CopySource: `${this.location.bucket}/${key}`,
        MetadataDirective: "REPLACE", Metadata: { [LAST_USE_META]: String(now) },
      }))
      // A blob deleted meanwhile, or S3 away: the next use tries again.
      .then(() => {}, () => {})
      .finally(() => this.pendingRefreshes.delete(copy));
    this.pendingRefreshes.add(copy);
  }

  async findMissing(digests: readonly Digest[]): Promise<Digest[]> {
    const present = await mapLimit(digests, HEAD_CONCURRENCY, async (d) => {
      if (d.hash === EMPTY_DIGEST.hash && d.size === 0) return true;
      const found = await this.head(d.hash);
      if (found?.size !== d.size) {
        this.counters.misses++;
        return false;
      }
      this.counters.hits++;
      this.used(d.hash, found.lastUseMs);
      return true;
    });
    return digests.filter((_, i) => !present[i]);
  }

  async put(digest: Digest, body: ReadableStream<Uint8Array> | Uint8Array): Promise<{ created: boolean }> {
    if (digest.size > S3_MAX_BLOB_BYTES) {
      throw new DtError("too_large", `blob ${formatDigest(digest)} is larger than S3's single upload limit of ${S3_MAX_BLOB_BYTES} bytes; keep such files out of the isolate, or use a filesystem store`);
    }
    const existing = digest.hash === EMPTY_DIGEST.hash && digest.size === 0 ? { size: 0, lastUseMs: Number.POSITIVE_INFINITY } : await this.head(digest.hash);
    if (existing?.size === digest.size) {
      if (!(body instanceof Uint8Array)) await body.pipeTo(new WritableStream());
      this.used(digest.hash, existing.lastUseMs);
      return { created: false };
    }
    const Metadata = { [LAST_USE_META]: String(this.clock.now()) };
    if (body instanceof Uint8Array) {
      checkBytesMatch(body, digest, `blob ${digest.hash}`);
      await s3Call(`PUT ${this.where(digest.hash)}`, () => this.s3.send(new PutObjectCommand({ Bucket: this.location.bucket, Key: this.key(digest.hash), Body: body, Metadata })));
      return { created: true };
    }
    const tmp = keyOf(this.location, `tmp/${crypto.randomUUID()}`);
    try {
      await putStream(this.s3, { Bucket: this.location.bucket, Key: tmp }, verifyingStream(body, digest, `blob ${digest.hash}`), digest.size);
      const copy = new CopyObjectCommand({
        Bucket: this.location.bucket, Key: this.key(digest.hash), CopySource: `${this.location.bucket}/${tmp}`, MetadataDirective: "REPLACE", Metadata,
      });
      await s3Call(`copy to ${this.where(digest.hash)}`, () => this.s3.send(copy));
    } finally {
      await this.s3.send(new DeleteObjectCommand({ Bucket: this.location.bucket, Key: tmp })).catch(() => {});
    }
    return { created: true };
  }

  async get(hash: string, range?: ByteRange): Promise<BlobRead | null> {
    if (hash === EMPTY_DIGEST.hash) {
      this.counters.hits++;
      return { size: 0, body: new Blob([]) };
    }
    try {
      const res = await this.s3.send(new GetObjectCommand({
        Bucket: this.location.bucket, Key: this.key(hash), Range: range ? `bytes=${range.start}-${range.end}` : undefined,
      }));
      this.counters.hits++;
      this.used(hash, lastUseOf(res));
      // A ranged answer's ContentRange is `bytes 2-5/10`: the whole size is after the slash.
      const size = range ? Number(res.ContentRange?.split("/")[1]) : (res.ContentLength ?? 0);
      return { size, body: res.Body!.transformToWebStream() as ReadableStream<Uint8Array> };
    } catch (err) {
      if (!isNotFound(err)) throw s3Error(err, `GET ${this.where(hash)}`);
      this.counters.misses++;
      return null;
    }
  }

  async sizeOf(hash: string): Promise<number | null> {
    if (hash === EMPTY_DIGEST.hash) return 0;
    return (await this.head(hash))?.size ?? null;
  }

  async delete(hash: string): Promise<boolean> {
    // S3 answers a DELETE the same whether the object was there or not.
    if ((await this.head(hash)) === null) return false;
    await s3Call(`DELETE ${this.where(hash)}`, () => this.s3.send(new DeleteObjectCommand({ Bucket: this.location.bucket, Key: this.key(hash) })));
    return true;
  }

  /** Eviction is a bucket lifecycle rule's (see the class comment); nothing is evicted here. */
  async trim(_policy: TrimPolicy): Promise<{ blobs: number; bytes: number }> {
    return { blobs: 0, bytes: 0 };
  }

  /** Blobs and bytes by listing the prefix: one request per 1,000 blobs, for an operator's occasional look. */
  async stats(): Promise<BlobStoreStats> {
    let blobs = 0;
    let bytes = 0;
    let ContinuationToken: string | undefined;
    do {
      const list = new ListObjectsV2Command({ Bucket: this.location.bucket, Prefix: keyOf(this.location, "blobs/"), ContinuationToken });
      const page = await s3Call(`list ${describe(this.location)}`, () => this.s3.send(list));
      for (const object of page.Contents ?? []) {
        blobs++;
        bytes += object.Size ?? 0;
      }
      ContinuationToken = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (ContinuationToken);
    return { blobs, bytes, ...this.counters, evictions: 0, evictedBytes: 0 };
  }

  /** A HeadBucket: one cheap request that proves the endpoint, the credentials and the bucket. */
  async ping(): Promise<void> {
    await checkBucket(this.s3, this.location, `blob store s3://${this.location.bucket}/${this.location.prefix}`);
  }

  async close(): Promise<void> {
    await Promise.all(this.pendingRefreshes);
    this.s3.destroy();
  }

  private where(hash: string): string {
    return `s3://${this.location.bucket}/${this.key(hash)}`;
  }
}

function describe(location: S3Location): string {
  return `s3://${location.bucket}/${location.prefix}`;
}

/** The later of the recorded use and LastModified (a blob written by a PUT has both; S3 renews LastModified on a copy, s3rver does not). */
function lastUseOf(head: { LastModified?: Date; Metadata?: Record<string, string> }): number {
  const recorded = Number(head.Metadata?.[LAST_USE_META] ?? Number.NaN);
  const modified = head.LastModified?.getTime() ?? 0;
  return Number.isFinite(recorded) ? Math.max(recorded, modified) : modified;
}
