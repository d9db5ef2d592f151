import { Hono } from "hono";
import { DtError } from "../../common/errors.ts";
import { errorBody, httpStatusOf, readBodyLimited, readJsonLimited } from "../../common/http.ts";
import type { Logger } from "../../common/log.ts";
import type { Registry } from "../../common/metrics/registry.ts";
import { type Digest, checkBytesMatch, checkHash, checkSize, formatDigest, parseDigest } from "../digest.ts";
import { type CasLimits, DEFAULT_CAS_LIMITS } from "./limits.ts";
import { BATCH_CONTENT_TYPE, type BatchEntry, decodeBatch, encodeBatch } from "./batch.ts";
import type { BlobStore, ByteRange } from "./blob-store.ts";
import { CAS_ANSWER_HEADER } from "./client.ts";

export interface CasServerOptions {
  store: BlobStore;
  log: Logger;
  limits?: CasLimits;
  /** Called after blobs were written, so the owner can trim the store. */
  onStored?: () => void;
  /** Told of blob bytes as they pass (see casTrafficMetrics); none: bodies are passed on untouched. */
  traffic?: CasTraffic;
}

/** Blob bytes through the CAS API, counted as they pass: a download the client abandons counts only what it took. */
export interface CasTraffic {
  received(bytes: number): void;
  sent(bytes: number): void;
}

/** `dt_cas_bytes_received_total` and `dt_cas_bytes_sent_total` in `registry`, as a CasTraffic for casRoutes. */
export function casTrafficMetrics(registry: Registry): CasTraffic {
  const received = registry.counter({ name: "dt_cas_bytes_received_total", help: "Blob bytes the CAS received (uploads and batches), counted as they arrived." });
  const sent = registry.counter({ name: "dt_cas_bytes_sent_total", help: "Blob bytes the CAS sent (downloads and batch reads), counted as they left." });
  return { received: (bytes) => received.inc(bytes), sent: (bytes) => sent.inc(bytes) };
}

/** `body`, with every chunk told to `count` as it is read. */
function counted(body: ReadableStream<Uint8Array>, count: (bytes: number) => void): ReadableStream<Uint8Array> {
  return body.pipeThrough(
    new TransformStream<Uint8Array, Uint8Array>({
      transform(chunk, controller) {
        count(chunk.byteLength);
        controller.enqueue(chunk);
      },
    }),
  );
}

/**
 * The CAS HTTP API, to be mounted at `/api/cas/v1` (by `dt isolate-server`,
 * and later inside the master):
 *   POST missing        {"digests":[{hash,size}]} → {"missing":[...]}
 *   PUT  blobs/<hash>?size=N   body = the blob, streamed and verified
 *   POST batch          many small blobs, see batch.ts
 *   POST batch-read     {"digests":[...]} → those blobs in the batch framing
 *   GET  blobs/<hash>   Range, ETag, immutable caching
 *   GET  stats
 *
 * Blobs are opaque here: a manifest is checked where it is used, before a
 * file of it is written (see fetchManifest in run/fetch.ts for why there).
 */
export function casRoutes(options: CasServerOptions): Hono {
  const { store, log, onStored, traffic } = options;
  /** A response body, counted as it is sent when there is a traffic counter (a file's Blob becomes a stream then). */
  const outgoing = (body: Blob | ReadableStream<Uint8Array>) => (traffic ? counted(body instanceof Blob ? body.stream() : body, traffic.sent) : body);
  const limits = options.limits ?? DEFAULT_CAS_LIMITS;
  const app = new Hono();

  app.onError((err, c) => {
    const status = httpStatusOf(err);
    if (status >= 500) log.error(`CAS ${c.req.method} ${c.req.path} failed`, err);
    return c.json(errorBody(err), status, { [CAS_ANSWER_HEADER]: "1" });
  });

  app.post("/missing", async (c) => {
    const body = await readJsonLimited(c.req.raw, limits.maxMissingBodyBytes, "POST missing");
    const list = (body as { digests?: unknown } | null)?.digests;
    if (!Array.isArray(list)) {
      throw new DtError("invalid_input", `POST missing: body must be {"digests": [{"hash": ..., "size": ...}, ...]}`);
    }
    if (list.length > limits.maxMissingDigests) {
      throw new DtError("too_large", `POST missing: ${list.length} digests exceed the limit of ${limits.maxMissingDigests} per request; split the request`);
    }
    const digests = list.map((d, i) => parseDigest(d, `digests[${i}]`));
    return c.json({ missing: await store.findMissing(digests) });
  });

  app.put("/blobs/:hash", async (c) => {
    const hash = checkHash(c.req.param("hash"), "blob hash in the URL");
    const sizeParam = c.req.query("size");
    if (sizeParam === undefined || !/^\d+$/.test(sizeParam)) {
      throw new DtError("invalid_input", `PUT blobs/${hash}: the query must give the blob's size, e.g. ?size=1024`);
    }
    const digest: Digest = { hash, size: checkSize(Number(sizeParam), "size") };
    if (digest.size > limits.maxBlobBytes) {
      throw new DtError("too_large", `PUT blobs/${hash}: ${digest.size} bytes exceed the limit of ${limits.maxBlobBytes} per blob`);
    }
    const length = c.req.header("content-length");
    if (length !== undefined && Number(length) !== digest.size) {
      throw new DtError("digest_mismatch", `PUT blobs/${hash}: Content-Length ${length} differs from the declared size ${digest.size}`);
    }
    const raw = c.req.raw.body ?? new Blob([]).stream();
    const { created } = await store.put(digest, traffic ? counted(raw, traffic.received) : raw);
    if (created) onStored?.();
    return c.json({ stored: formatDigest(digest), created }, created ? 201 : 200);
  });

  app.post("/batch", async (c) => {
    const type = c.req.header("content-type") ?? "";
    if (!type.startsWith(BATCH_CONTENT_TYPE)) {
      throw new DtError("invalid_input", `POST batch: Content-Type must be ${BATCH_CONTENT_TYPE}, got ${JSON.stringify(type)}`);
    }
    const body = await readBodyLimited(c.req.raw, limits.maxBatchBodyBytes, "POST batch");
    traffic?.received(body.byteLength);
    const entries = decodeBatch(body, limits.maxBatchEntries);
    // Check every entry before storing any, so a bad batch leaves nothing behind.
    for (const [i, { digest, bytes }] of entries.entries()) {
      checkBytesMatch(bytes, digest, `POST batch (nothing from it was stored): entry ${i}`);
    }
    let created = 0;
    for (const { digest, bytes } of entries) {
      if ((await store.put(digest, bytes)).created) created++;
    }
    if (created > 0) onStored?.();
    return c.json({ received: entries.length, created });
  });

  app.post("/batch-read", async (c) => {
    const body = await readJsonLimited(c.req.raw, limits.maxMissingBodyBytes, "POST batch-read");
    const list = (body as { digests?: unknown } | null)?.digests;
    if (!Array.isArray(list)) {
      throw new DtError("invalid_input", `POST batch-read: body must be {"digests": [{"hash": ..., "size": ...}, ...]}`);
    }
    if (list.length > limits.maxBatchEntries) {
      throw new DtError("too_large", `POST batch-read: ${list.length} digests exceed the limit of ${limits.maxBatchEntries} per request; split the request`);
    }
    const digests = list.map((d, i) => parseDigest(d, `digests[${i}]`));
    const total = digests.reduce((sum, d) => sum + d.size, 0);
    if (total > limits.maxBatchBodyBytes) {
      throw new DtError("too_large", `POST batch-read: ${total} bytes asked for exceed the limit of ${limits.maxBatchBodyBytes} per request; ask for fewer blobs`);
    }
    const absent = [];
    for (const d of digests) if ((await store.sizeOf(d.hash)) !== d.size) absent.push(d.hash);
    if (absent.length > 0) {
      throw new DtError("not_found", `POST batch-read: ${absent.length} blobs are not in this store: ${absent.slice(0, 5).join(", ")}${absent.length > 5 ? ", ..." : ""}`);
    }
    const entries: BatchEntry[] = [];
    for (const d of digests) {
      const read = await store.get(d.hash);
      if (!read) throw new DtError("not_found", `blob ${d.hash} was evicted while being read; upload it again`);
      entries.push({ digest: d, bytes: new Uint8Array(await new Response(read.body).arrayBuffer()) });
    }
    const encoded = encodeBatch(entries);
    return new Response(outgoing(new Blob([encoded])), { status: 200, headers: { "Content-Type": BATCH_CONTENT_TYPE, "Content-Length": String(encoded.byteLength) } });
  });

  app.get("/blobs/:hash", async (c) => {
    const hash = checkHash(c.req.param("hash"), "blob hash in the URL");
    const etag = `"${hash}"`;
    const cacheHeaders = {
      ETag: etag,
      // A blob's bytes never change: any cache may keep them for good.
      "Cache-Control": "public, max-age=31536000, immutable",
      "Accept-Ranges": "bytes",
    };
    if (c.req.header("if-none-match") === etag && (await store.sizeOf(hash)) !== null) {
      return c.body(null, 304, cacheHeaders);
    }
    const size = await store.sizeOf(hash);
    if (size === null) {
      await store.get(hash); // counts the miss
      throw new DtError("not_found", `blob ${hash} is not in this store; upload it first (dt archive does)`);
    }
    const rangeHeader = c.req.header("range");
    const range = rangeHeader === undefined ? undefined : parseRange(rangeHeader, size);
    if (range === null) {
      return c.json({ error: `Range ${rangeHeader} cannot be satisfied for a blob of ${size} bytes`, code: "invalid_input" }, 416, {
        "Content-Range": `bytes */${size}`,
      });
    }
    const read = await store.get(hash, range);
    if (!read) throw new DtError("not_found", `blob ${hash} was evicted while being read; upload it again`);
    const headers: Record<string, string> = { ...cacheHeaders, "Content-Type": "application/octet-stream" };
    if (range) {
      headers["Content-Range"] = `bytes ${range.start}-${range.end}/${size}`;
      headers["Content-Length"] = String(range.end - range.start + 1);
      return new Response(outgoing(read.body), { status: 206, headers });
    }
    headers["Content-Length"] = String(size);
    return new Response(outgoing(read.body), { status: 200, headers });
  });

  app.get("/stats", async (c) => c.json(await store.stats()));

  return app;
}

/**
 * One `bytes=` range (multipart ranges are refused as unsatisfiable: no dt
 * client asks for them). Returns undefined for a header to ignore (another
 * unit, per RFC 9110) and null for an unsatisfiable one.
 */
export function parseRange(header: string, size: number): ByteRange | undefined | null {
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!m) return header.trim().startsWith("bytes=") ? null : undefined;
  const [, first, last] = m;
  if (first === "" && last === "") return null;
  if (first === "") {
    const suffix = Number(last);
    if (suffix === 0 || size === 0) return null;
    return { start: Math.max(0, size - suffix), end: size - 1 };
  }
  const start = Number(first);
  const end = last === "" ? size - 1 : Math.min(Number(last), size - 1);
  if (start >= size || end < start) return null;
  return { start, end };
}
