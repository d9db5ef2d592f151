import { GetObjectCommand, PutObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import { getSignedUrl } from "@aws-sdk/s3-request-presigner";
import type { Clock } from "../../common/clock.ts";
import { DtError } from "../../common/errors.ts";
import { type S3Location, checkBucket, isNotFound, keyOf, putStream, s3Call, s3Error } from "../../common/s3.ts";
import { type ArtifactStore, artifactContentType, checkArtifactKey, isArtifactKey } from "./artifact-store.ts";

/** How long a presigned link works: dist_test's 24 hours, long enough to read a job's failures the next morning. */
export const LINK_EXPIRY_SEC = 24 * 3600;

/**
 * A link is handed out again while it has at least this long left. Signing
 * takes about half a millisecond, so a 10,000-task job's page (30,000
 * links) would take seconds at every view; reused, it is signed once.
 * An hour, not more: links signed with temporary credentials (instance
 * roles) die with them, often within hours.
 */
export const LINK_REUSE_MIN_LEFT_MS = 3_600_000;

/** Links kept for reuse: the three links of every attempt of a 15,000-task job, about 30 MB. */
const MAX_CACHED_LINKS = 50_000;

/**
 * An ArtifactStore in an S3 bucket: objects at `<prefix>/<key>`, served to
 * browsers and clients by presigned GET links (made afresh for each view,
 * as dist_test did, and reused while they have an hour left), so logs and
 * archives do not pass through the master.
 * The master still serves every object at /api/v1/artifacts/<key> for
 * clients that cannot reach S3.
 *
 * put is a single PUT to the final key: S3 stores nothing of a PUT that
 * ends early, and the key becomes an attempt's only once the slave has had
 * the master's answer, so a half-written object is never linked.
 */
export class S3ArtifactStore implements ArtifactStore {
  /** Presigned links by key, oldest first. */
  private readonly links = new Map<string, { url: string; expiresAtMs: number }>();

  private constructor(
    private readonly s3: S3Client,
    private readonly location: S3Location,
    private readonly clock: Clock,
  ) {}

  /** Opens the store after checking that its bucket is there. */
  static async open(s3: S3Client, location: S3Location, clock: Clock): Promise<S3ArtifactStore> {
    await checkBucket(s3, location, `artifact store s3://${location.bucket}/${location.prefix}`);
    return new S3ArtifactStore(s3, location, clock);
  }

  async put(key: string, body: ReadableStream<Uint8Array> | Uint8Array, size?: number): Promise<{ size: number }> {
    const input = { Bucket: this.location.bucket, Key: this.key(key), ContentType: artifactContentType(key) };
    if (body instanceof Uint8Array) {
      await s3Call(`PUT ${this.where(key)}`, () => this.s3.send(new PutObjectCommand({ ...input, Body: body })));
      return { size: body.byteLength };
    }
    if (size === undefined) throw new DtError("invalid_input", `artifact ${key}: an upload to S3 needs its length up front; send Content-Length`);
    await putStream(this.s3, input, body, size);
    return { size };
  }

  async get(key: string): Promise<{ size: number; body: ReadableStream<Uint8Array> } | null> {
    if (!isArtifactKey(key)) return null;
    try {
      const res = await this.s3.send(new GetObjectCommand({ Bucket: this.location.bucket, Key: this.key(key) }));
      return { size: res.ContentLength ?? 0, body: res.Body!.transformToWebStream() as ReadableStream<Uint8Array> };
    } catch (err) {
      if (isNotFound(err)) return null;
      throw s3Error(err, `GET ${this.where(key)}`);
    }
  }

  /** A presigned GET URL (signed here, no request to S3), or the one made earlier while it has an hour left. */
  async link(key: string): Promise<string> {
    const now = this.clock.now();
    const cached = this.links.get(key);
    if (cached && cached.expiresAtMs - now >= LINK_REUSE_MIN_LEFT_MS) return cached.url;
    const command = new GetObjectCommand({ Bucket: this.location.bucket, Key: this.key(key) });
    const url = await getSignedUrl(this.s3, command, { expiresIn: LINK_EXPIRY_SEC, signingDate: new Date(now) });
    // Temporary credentials end a link's life with theirs.
    const credentialsEnd = (await this.s3.config.credentials()).expiration?.getTime() ?? Number.POSITIVE_INFINITY;
    this.links.delete(key);
    this.links.set(key, { url, expiresAtMs: Math.min(now + LINK_EXPIRY_SEC * 1000, credentialsEnd) });
    if (this.links.size > MAX_CACHED_LINKS) this.links.delete(this.links.keys().next().value!);
    return url;
  }

  /** A HeadBucket: one cheap request that proves the endpoint, the credentials and the bucket. */
  async ping(): Promise<void> {
    await checkBucket(this.s3, this.location, `artifact store s3://${this.location.bucket}/${this.location.prefix}`);
  }

  async close(): Promise<void> {
    this.s3.destroy();
  }

  /** The object key; a bad artifact key is refused, as by the local store. */
  private key(key: string): string {
    return keyOf(this.location, checkArtifactKey(key));
  }

  private where(key: string): string {
    return `s3://${this.location.bucket}/${keyOf(this.location, key)}`;
  }
}
