import { DtError } from "../../common/errors.ts";
import { dtErrorOfResponse } from "../../common/http.ts";
import type { Digest } from "../digest.ts";
import { MAX_MANIFEST_BYTES } from "../manifest.ts";
import { BATCH_CONTENT_TYPE, type BatchEntry, decodeBatch, encodeBatch } from "./batch.ts";
import { DEFAULT_CAS_LIMITS } from "./limits.ts";

export const CAS_API_PREFIX = "/api/cas/v1";

/**
 * Sent with every error the CAS API answers. A 404 carrying it means the CAS
 * does not have the blob (the task's trouble: it was never archived there,
 * or was evicted); a 404 without it came from something else at that URL (a
 * proxy, a master that does not serve the CAS, a wrong path), which no
 * archive can fix and is the installation's trouble, not the task's.
 */
export const CAS_ANSWER_HEADER = "Dt-Cas";

export interface CasClientOptions {
  /** Injected for tests; the global fetch otherwise. */
  fetch?: typeof fetch;
  /** Attempts for a request that failed on the network or with a 5xx. */
  attempts?: number;
}

/** Waits before retry n (1-based): 0.2 s, 0.8 s, 3.2 s… a server restart takes a few seconds. */
const backoffMs = (attempt: number) => 200 * 4 ** (attempt - 1);

/**
 * The client side of the CAS API (see server.ts), used by archive,
 * run-isolated and slaves. `server` is the server's root URL, e.g.
 * `http://cas:4242`; the API prefix is added here.
 *
 * @example
 *   const cas = new CasClient("http://127.0.0.1:4242");
 *   const missing = await cas.findMissing(digests);
 */
export class CasClient {
  readonly base: string;
  private readonly fetchFn: typeof fetch;
  private readonly attempts: number;

  constructor(readonly server: string, options: CasClientOptions = {}) {
    let url: URL;
    try {
      url = new URL(server);
    } catch {
      throw new DtError("invalid_input", `isolate server ${JSON.stringify(server)} is not a URL; write e.g. http://host:4242`);
    }
    if (url.protocol !== "http:" && url.protocol !== "https:") {
      throw new DtError("invalid_input", `isolate server ${server}: only http and https URLs are supported`);
    }
    this.base = `${server.replace(/\/+$/, "")}${CAS_API_PREFIX}`;
    this.fetchFn = options.fetch ?? fetch;
    this.attempts = options.attempts ?? 4;
  }

  /** The digests the server lacks; asks in chunks of the server's per-request limit. */
  async findMissing(digests: readonly Digest[]): Promise<Digest[]> {
    const chunk = DEFAULT_CAS_LIMITS.maxMissingDigests;
    const requests: Promise<Digest[]>[] = [];
    for (let i = 0; i < digests.length; i += chunk) {
      const part = digests.slice(i, i + chunk).map(({ hash, size }) => ({ hash, size }));
      requests.push(
        this.request("POST missing", "/missing", {
          method: "POST",
          headers: { "Content-Type": "application/json" },
          body: JSON.stringify({ digests: part }),
        }).then(async (res) => ((await res.json()) as { missing: Digest[] }).missing),
      );
    }
    return (await Promise.all(requests)).flat();
  }

  /**
   * Uploads one blob. A Blob body (a file) is retried on transient failures;
   * a stream can be sent only once.
   */
  async putBlob(digest: Digest, body: Blob | Uint8Array | ReadableStream<Uint8Array>): Promise<void> {
    const retryable = !(body instanceof ReadableStream);
    await this.request(
      `PUT blob ${digest.hash}`,
      `/blobs/${digest.hash}?size=${digest.size}`,
      { method: "PUT", headers: { "Content-Type": "application/octet-stream", "Content-Length": String(digest.size) }, body },
      retryable ? this.attempts : 1,
    );
  }

  /** Uploads many small blobs in one request. */
  async putBatch(entries: readonly BatchEntry[]): Promise<void> {
    if (entries.length === 0) return;
    await this.request(`POST batch of ${entries.length} blobs`, "/batch", {
      method: "POST",
      headers: { "Content-Type": BATCH_CONTENT_TYPE },
      body: encodeBatch(entries),
    });
  }

  /** Downloads many small blobs in one request; the caller verifies each. */
  async getBatch(digests: readonly Digest[]): Promise<BatchEntry[]> {
    if (digests.length === 0) return [];
    const res = await this.request(`POST batch-read of ${digests.length} blobs`, "/batch-read", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ digests: digests.map(({ hash, size }) => ({ hash, size })) }),
    });
    const entries = decodeBatch(new Uint8Array(await res.arrayBuffer()), digests.length);
    if (entries.length !== digests.length || entries.some((e, i) => e.digest.hash !== digests[i]!.hash)) {
      throw new DtError("unreachable", `POST ${this.base}/batch-read: asked for ${digests.length} blobs, got ${entries.length} that are not the ones asked for`);
    }
    return entries;
  }

  /** Streams a blob; `not_found` when the server does not have it. */
  async getBlob(hash: string): Promise<ReadableStream<Uint8Array>> {
    const res = await this.request(`GET blob ${hash}`, `/blobs/${hash}`, { method: "GET" });
    if (!res.body) throw new DtError("unreachable", `GET ${this.base}/blobs/${hash}: empty response body`);
    return res.body;
  }

  /**
   * A small blob (a manifest) whole in memory, refused past `maxBytes`
   * while it streams: the server is named by whoever wrote the ref (an
   * outputs_ref comes from a slave's report), and a rogue one answering
   * endless bytes must not exhaust the reader's memory before the digest
   * check could refuse them.
   */
  async getBytes(hash: string, maxBytes: number = MAX_MANIFEST_BYTES): Promise<Uint8Array> {
    const res = await this.request(`GET blob ${hash}`, `/blobs/${hash}`, { method: "GET" });
    const tooLarge = () => new DtError("too_large", `GET ${this.base}/blobs/${hash}: the blob is larger than ${maxBytes} bytes, more than any manifest may be; refusing it`);
    if (Number(res.headers.get("content-length") ?? 0) > maxBytes) {
      await res.body?.cancel();
      throw tooLarge();
    }
    const chunks: Uint8Array[] = [];
    let size = 0;
    for await (const chunk of res.body ?? []) {
      size += chunk.byteLength;
      // Throwing out of the loop cancels the body: the rest is never read.
      if (size > maxBytes) throw tooLarge();
      chunks.push(chunk);
    }
    return Buffer.concat(chunks, size);
  }

  async stats(): Promise<Record<string, number>> {
    return (await (await this.request("GET stats", "/stats", { method: "GET" })).json()) as Record<string, number>;
  }

  private async request(what: string, path: string, init: RequestInit, attempts = this.attempts): Promise<Response> {
    const url = `${this.base}${path}`;
    let lastError: DtError | undefined;
    for (let attempt = 1; attempt <= attempts; attempt++) {
      if (attempt > 1) await Bun.sleep(backoffMs(attempt - 1));
      let res: Response;
      try {
        res = await this.fetchFn(url, init);
      } catch (err) {
        lastError = new DtError("unreachable", `${what}: cannot reach the isolate server at ${this.server} (${(err as Error).message}); is it running?`, { cause: err });
        continue;
      }
      if (res.ok) return res;
      if (res.status === 404 && !res.headers.has(CAS_ANSWER_HEADER)) throw await notTheCas(what, url, this.server, res);
      const error = await dtErrorOfResponse(what, url, res);
      if (res.status < 500) throw error;
      lastError = error;
    }
    throw lastError!;
  }
}


/** A 404 that no dt CAS sent: `unreachable`, so a slave treats it as its installation's trouble and never fails a task for it. */
async function notTheCas(what: string, url: string, server: string, res: Response): Promise<DtError> {
  const { message } = await dtErrorOfResponse(what, url, res);
  return new DtError(
    "unreachable",
    `${message}; the answer is not a dt CAS's (no ${CAS_ANSWER_HEADER} header): is ${server} the root URL of dt isolate-server, or of a dt master that serves the CAS (no --isolate-server)?`,
  );
}
