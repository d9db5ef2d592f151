/**
 * How dt talks to S3: one S3Client configuration for every S3 store,
 * streamed uploads, and S3's errors as DtErrors (locations are parsed in
 * s3-location.ts). This module loads the AWS SDK: import it only through a
 * dynamic `import()` once an `s3://` store is configured, so that other
 * commands start without it.
 *
 * @example
 *   const { openS3Store } = await import("../common/s3.ts");
 *   const store = await openS3Store("s3://dt-cas/prod", "--store", { endpoint }, (s3, location) => S3BlobStore.open({ s3, location, clock }));
 */
import { HeadBucketCommand, PutObjectCommand, type PutObjectCommandInput, S3Client, type S3ClientConfig, S3ServiceException } from "@aws-sdk/client-s3";
import { Readable } from "node:stream";
import { DtError } from "./errors.ts";
import { type S3Location, parseS3Url } from "./s3-location.ts";

export { type S3Location, keyOf } from "./s3-location.ts";

export interface S3ClientOptions {
  /** An S3-compatible server (MinIO, Ceph, s3rver); undefined means AWS itself. */
  endpoint?: string;
  /** Fixed credentials (tests); otherwise the SDK's default chain: env, profiles, SSO, instance and container roles. */
  credentials?: { accessKeyId: string; secretAccessKey: string };
}

/** The region when neither AWS_REGION nor a profile names one: any region works for a custom endpoint, and AWS redirects a bucket elsewhere (followRegionRedirects). */
const DEFAULT_REGION = "us-east-1";

/**
 * Milliseconds without a byte on an S3 connection before the request fails:
 * a hung S3 becomes a 503 the slave retries, not an upload that holds a slot.
 * 30 s covers S3's own slow answers to a large CopyObject.
 */
const SOCKET_IDLE_TIMEOUT_MS = 30_000;
/** A refused or unroutable endpoint fails within this; S3 in-region connects in milliseconds. */
const CONNECT_TIMEOUT_MS = 5_000;

const ignore = () => {};
const SILENT = { trace: ignore, debug: ignore, info: ignore, warn: ignore, error: ignore };

/**
 * An S3Client for dt's stores. Credentials come from the SDK's default chain;
 * the region from AWS_REGION or the profile, else us-east-1. A custom
 * endpoint gets path-style addressing (`endpoint/bucket/key`), which
 * S3-compatible servers expect. Checksums are computed and validated only
 * where S3 requires them: the SDK's default streams bodies with aws-chunked
 * framing and trailing checksums, which some S3-compatible servers store as
 * part of the object (s3rver does: test/isolate/s3-blob-store.test.ts checks
 * that a streamed blob is stored byte for byte).
 */
export async function openS3Client(options: S3ClientOptions): Promise<S3Client> {
  const endpoint = options.endpoint;
  if (endpoint !== undefined && !/^https?:\/\/[^/]+/.test(endpoint)) {
    throw new DtError("invalid_input", `S3 endpoint ${JSON.stringify(endpoint)} is not an http(s) URL; write e.g. http://127.0.0.1:9000`);
  }
  const config: S3ClientConfig = {
    ...(endpoint ? { endpoint, forcePathStyle: true } : {}),
    ...(options.credentials ? { credentials: options.credentials } : {}),
    followRegionRedirects: true,
    requestChecksumCalculation: "WHEN_REQUIRED",
    responseChecksumValidation: "WHEN_REQUIRED",
    requestHandler: { connectionTimeout: CONNECT_TIMEOUT_MS, socketTimeout: SOCKET_IDLE_TIMEOUT_MS },
    // dt reports S3's failures itself, with what it was doing; the SDK would also warn on the console.
    logger: SILENT,
  };
  // The SDK throws at the first request when no region is configured; ask its chain once and fall back.
  const probe = new S3Client(config);
  const region = await probe.config.region().catch(() => DEFAULT_REGION);
  probe.destroy();
  return new S3Client({ ...config, region });
}

/**
 * Parses `url` (`what` names its flag in errors), makes a client for it and
 * opens a store with `open`; the client is the store's to destroy, and is
 * destroyed here if opening fails.
 */
export async function openS3Store<T>(url: string, what: string, options: S3ClientOptions, open: (s3: S3Client, location: S3Location) => Promise<T>): Promise<T> {
  const location = parseS3Url(url, what);
  const s3 = await openS3Client(options);
  try {
    return await open(s3, location);
  } catch (err) {
    s3.destroy();
    throw err;
  }
}

/** Checks at start-up that the bucket exists and the credentials reach it, so a misconfiguration fails the command, not the first job. */
export async function checkBucket(s3: S3Client, location: S3Location, what: string): Promise<void> {
  try {
    await s3.send(new HeadBucketCommand({ Bucket: location.bucket }));
  } catch (err) {
    if (statusOf(err) === 404) throw new DtError("invalid_input", `${what}: bucket ${location.bucket} does not exist; create it, or name another`, { cause: err });
    throw s3Error(err, `${what}: checking bucket ${location.bucket}`);
  }
}

/** The HTTP status of an S3 answer, or undefined when there was none (network, timeout). */
export function statusOf(err: unknown): number | undefined {
  return err instanceof S3ServiceException ? err.$metadata.httpStatusCode : undefined;
}

/** True when S3 answered that the object (or bucket) is not there. */
export function isNotFound(err: unknown): boolean {
  return statusOf(err) === 404 || (err instanceof Error && (err.name === "NoSuchKey" || err.name === "NotFound"));
}

/**
 * An S3 failure as a DtError. Everything is "unreachable" (the master and
 * the CAS answer 503, which clients and slaves retry): S3 down, throttling,
 * a timeout, and also refused credentials, since dt's caller can do nothing
 * about them but the operator can; the message says which it was.
 */
export function s3Error(err: unknown, what: string): DtError {
  if (err instanceof DtError) return err;
  const status = statusOf(err);
  const name = err instanceof Error ? err.name : "Error";
  const message = err instanceof Error ? err.message : String(err);
  const hint = status === 403 || name === "CredentialsProviderError"
    ? "check the credentials (AWS_ACCESS_KEY_ID/AWS_PROFILE/instance role) and the bucket policy"
    : status === undefined
      ? "check that the S3 endpoint is reachable (--s3-endpoint / AWS_ENDPOINT_URL)"
      : "S3 answered with an error; retry later";
  return new DtError("unreachable", `${what} failed: ${name}${status ? ` (HTTP ${status})` : ""}: ${message}; ${hint}`, { cause: err });
}

/** Runs one S3 call, its failure as s3Error(…, what). */
export async function s3Call<T>(what: string, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (err) {
    throw s3Error(err, what);
  }
}

/**
 * PUTs a stream of exactly `size` bytes. S3 needs the length up front for a
 * streamed body. A body that fails (or turns out longer or shorter) aborts
 * the request at once, rather than leaving S3 waiting for bytes that never
 * come; the body's own error is thrown. The SDK does not retry a streamed
 * body (it cannot replay it); the caller's caller does.
 */
export async function putStream(s3: S3Client, input: Omit<PutObjectCommandInput, "Body" | "ContentLength">, body: ReadableStream<Uint8Array>, size: number): Promise<void> {
  const abort = new AbortController();
  let bodyError: unknown;
  let sent = 0;
  let bodyDone!: () => void;
  const bodyRead = new Promise<void>((resolve) => (bodyDone = resolve));
  const reader = body.getReader();
  const fail = (controller: ReadableStreamDefaultController<Uint8Array>, err: unknown) => {
    bodyError ??= err;
    controller.error(err);
    abort.abort(err);
    bodyDone();
  };
  const guarded = new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        const { value, done } = await reader.read();
        if (done) {
          if (sent !== size) return fail(controller, new DtError("invalid_input", `PUT ${input.Key}: the body ended after ${sent} of its declared ${size} bytes`));
          controller.close();
          return bodyDone();
        }
        sent += value.byteLength;
        if (sent > size) return fail(controller, new DtError("invalid_input", `PUT ${input.Key}: the body is longer than its declared ${size} bytes`));
        controller.enqueue(value);
      } catch (err) {
        fail(controller, err);
      }
    },
    cancel: (reason) => reader.cancel(reason),
  });
  const readable = Readable.fromWeb(guarded as import("node:stream/web").ReadableStream);
  // The failure is bodyError's to report; unheard, the stream's error event would be an uncaught exception.
  readable.on("error", ignore);
  try {
    await s3.send(new PutObjectCommand({ ...input, Body: readable, ContentLength: size }), { abortSignal: abort.signal });
  } catch (err) {
    throw bodyError ?? s3Error(err, `PUT s3://${input.Bucket}/${input.Key}`);
  }
  // S3 may answer once it has `size` bytes, before the body's end (where a digest is checked) was read.
  await bodyRead;
  if (bodyError) throw bodyError;
}
