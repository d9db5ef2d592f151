import { dtErrorOfResponse } from "../common/http.ts";
import { DtError } from "../common/errors.ts";
import type { Logger } from "../common/log.ts";
import type { ClaimRequest, ClaimResponse, HeartbeatRequest, HeartbeatResponse, Lease, LeaseRequest, LeaseResponse, LogAppendResponse, OutputResponse, QueueInfo, ResultReport, ResultResponse } from "../master/protocol.ts";
import { sleep } from "../common/sleep.ts";
import { type BackoffPolicy, DEFAULT_BACKOFF, backoffDelayMs } from "./backoff.ts";

export const SLAVE_API_PREFIX = "/api/v1/slave";

export type LogStream = "stdout" | "stderr";
export type OutputKind = "stdout" | "stderr" | "artifacts";

export interface MasterClientOptions {
  log: Logger;
  /** Injected for tests; the global fetch otherwise. */
  fetch?: typeof fetch;
  backoff?: BackoffPolicy;
  /**
   * Tries of a log append or an output upload before giving up. 8 tries span
   * about 20 s with the default backoff: a master restart, not an outage.
   * The full log is uploaded at the end anyway, and a missing artifact is
   * recorded as such rather than holding the task's result.
   */
  uploadAttempts?: number;
  /** Sent with every result, so the master can tell which of two holders of a beanstalkd job reported. */
  slaveName?: string;
}

/** A JSON call that takes longer than this is abandoned and retried: a half-open connection must not hang a slot. */
const REQUEST_TIMEOUT_MS = 30_000;
/** Beyond the long-poll's own wait: the master answers at wait_ms, so this only catches a connection gone silent. */
const LEASE_POLL_SLACK_MS = 15_000;
/** An upload streams up to a few hundred MB; this bounds one that stalled, not one that is slow. */
const UPLOAD_TIMEOUT_MS = 10 * 60_000;

interface SendOptions {
  /** Infinity: until it succeeds, a 4xx refuses it, or `signal` aborts. */
  attempts: number;
  signal?: AbortSignal;
  timeoutMs: number;
  /** Non-2xx statuses whose body the caller reads itself. */
  accept?: (status: number) => boolean;
}

/**
 * The slave side of the slave protocol (see src/master/protocol.ts) over
 * fetch. Calls that fail on the network, time out, or get a 5xx, 408 or 429
 * are retried with capped exponential backoff; any other 4xx is the
 * master's considered refusal and is thrown as a DtError at once.
 *
 * @example
 *   const master = new MasterClient("http://master:8081", { log });
 *   const { leases } = await master.lease({ slave, free: 2, wait_ms: 20_000 }, drainSignal);
 */
export class MasterClient {
  readonly base: string;
  private readonly fetchFn: typeof fetch;
  private readonly log: Logger;
  private readonly backoff: BackoffPolicy;
  private readonly uploadAttempts: number;
  private readonly slaveName: string | undefined;

  constructor(readonly master: string, options: MasterClientOptions) {
    let url: URL;
    try {
      url = new URL(master);
    } catch {
      throw new DtError("invalid_input", `master ${JSON.stringify(master)} is not a URL; write e.g. http://master:8081`);
    }
    if (url.protocol !== "http:" && url.protocol !== "https:") {
      throw new DtError("invalid_input", `master ${master}: only http and https URLs are supported`);
    }
    this.base = `${master.replace(/\/+$/, "")}${SLAVE_API_PREFIX}`;
    this.fetchFn = options.fetch ?? fetch;
    this.log = options.log;
    this.backoff = options.backoff ?? DEFAULT_BACKOFF;
    this.uploadAttempts = options.uploadAttempts ?? 8;
    this.slaveName = options.slaveName;
  }

  /** Where this master's slaves get work; retried until the master answers or `signal` aborts (then the master's own queue). */
  async queueInfo(signal?: AbortSignal): Promise<QueueInfo> {
    const res = await this.send("GET queue", "/queue", { method: "GET" }, { attempts: Number.POSITIVE_INFINITY, signal, timeoutMs: REQUEST_TIMEOUT_MS, accept: (status) => status === 404 });
    // A master older than the endpoint has only its own queue.
    return res && res.ok ? ((await res.json()) as QueueInfo) : { kind: "master" };
  }

  /** Long-polls for up to `request.free` leases, with any instruction for the slave; retries while the master is away. No leases once `signal` aborts. */
  async lease(request: LeaseRequest, signal: AbortSignal): Promise<LeaseResponse> {
    const res = await this.send("POST lease", "/lease", jsonInit(request), {
      attempts: Number.POSITIVE_INFINITY,
      signal,
      timeoutMs: request.wait_ms + LEASE_POLL_SLACK_MS,
    });
    return res ? ((await res.json()) as LeaseResponse) : { leases: [] };
  }

  /**
   * Asks for an offer reserved from beanstalkd, until the master answers
   * (claims are idempotent per lease, so a retry after a lost answer is
   * safe; a restarting master answers 503 until it has rebuilt). null once
   * `signal` aborts.
   */
  async claim(request: ClaimRequest, signal?: AbortSignal): Promise<ClaimResponse | null> {
    const res = await this.send(`POST claim of lease ${request.lease_id}`, "/claim", jsonInit(request), { attempts: Number.POSITIVE_INFINITY, signal, timeoutMs: REQUEST_TIMEOUT_MS, accept: (status) => status === 404 });
    // The master refuses a claim with 200 and a reason; a 404 is a master that predates claims.
    if (res?.status === 404) {
      throw new DtError("invalid_input", `the master at ${this.master} has no ${this.base}/claim: it is older than this slave, which runs nothing from beanstalkd that the master has not granted; upgrade the master first`);
    }
    return res ? ((await res.json()) as ClaimResponse) : null;
  }

  /**
   * One try, abandoned after `timeoutMs` (at most REQUEST_TIMEOUT_MS): the
   * heartbeat loop tries again soon, with the then current phases.
   */
  async heartbeat(request: HeartbeatRequest, timeoutMs = REQUEST_TIMEOUT_MS): Promise<HeartbeatResponse> {
    const res = await this.send("POST heartbeat", "/heartbeat", jsonInit(request), { attempts: 1, timeoutMs: Math.min(timeoutMs, REQUEST_TIMEOUT_MS) });
    return (await res!.json()) as HeartbeatResponse;
  }

  /**
   * Appends `bytes` at `offset` of a lease's live log; returns the size the
   * master now holds. A 409 (the master holds a different size, e.g. after
   * a retried append that had landed) also returns the master's size, so the
   * caller resends from there: the offset makes appends idempotent.
   */
  async appendLog(leaseId: string, stream: LogStream, offset: number, bytes: Uint8Array, signal?: AbortSignal): Promise<number | null> {
    const query = new URLSearchParams({ lease: leaseId, stream, offset: String(offset), ...this.sender() });
    const res = await this.send(
      `POST log of lease ${leaseId} (${stream}, ${bytes.byteLength} bytes at ${offset})`,
      `/log?${query}`,
      { method: "POST", headers: { "Content-Type": "application/octet-stream" }, body: bytes },
      { attempts: this.uploadAttempts, signal, timeoutMs: REQUEST_TIMEOUT_MS, accept: (status) => status === 409 },
    );
    if (!res) return null;
    const body = (await res.json().catch(() => ({}))) as Partial<LogAppendResponse>;
    if (typeof body.size !== "number") {
      throw new DtError("unreachable", `POST ${this.base}/log: answered ${res.status} without the log's size`);
    }
    return body.size;
  }

  /** `?slave=` for output requests: the master refuses output for a lease another slave holds (a second taker of a beanstalkd job). */
  private sender(): { slave: string } | Record<string, never> {
    return this.slaveName ? { slave: this.slaveName } : {};
  }

  /** Streams the file at `path` up as the lease's `kind` output; returns the artifact store key. */
  async uploadOutput(leaseId: string, kind: OutputKind, path: string, signal?: AbortSignal): Promise<string | null> {
    const query = new URLSearchParams({ lease: leaseId, kind, ...this.sender() });
    const res = await this.send(
      `PUT ${kind} of lease ${leaseId}`,
      `/output?${query}`,
      // A new Bun.file per try: each one streams the file from its start, never holding it in memory.
      () => ({ method: "PUT", headers: { "Content-Type": kind === "artifacts" ? "application/zip" : "text/plain; charset=utf-8" }, body: Bun.file(path) }),
      { attempts: this.uploadAttempts, signal, timeoutMs: UPLOAD_TIMEOUT_MS },
    );
    return res ? ((await res.json()) as OutputResponse).key : null;
  }

  /**
   * Reports an attempt's result until the master acknowledges it (reports
   * are idempotent per lease_id, so a retry after a lost answer is safe).
   * null once `signal` aborts: the lease was taken back, or the slave stops.
   */
  async reportResult(report: ResultReport, signal?: AbortSignal): Promise<ResultResponse | null> {
    const body = this.slaveName && !report.slave ? { ...report, slave: this.slaveName } : report;
    const res = await this.send(`POST result of lease ${report.lease_id}`, "/result", jsonInit(body), {
      attempts: Number.POSITIVE_INFINITY,
      signal,
      timeoutMs: REQUEST_TIMEOUT_MS,
    });
    return res ? ((await res.json()) as ResultResponse) : null;
  }

  /** The answer, or null when `signal` aborted. */
  private async send(what: string, path: string, init: RequestInit | (() => RequestInit), o: SendOptions): Promise<Response | null> {
    const url = `${this.base}${path}`;
    let lastError: DtError | undefined;
    for (let attempt = 1; attempt <= o.attempts; attempt++) {
      if (attempt > 1) await sleep(backoffDelayMs(this.backoff, attempt - 1), o.signal);
      if (o.signal?.aborted) return null;
      const timeout = AbortSignal.timeout(o.timeoutMs);
      let res: Response;
      try {
        const base = typeof init === "function" ? init() : init;
        res = await this.fetchFn(url, { ...base, signal: o.signal ? AbortSignal.any([o.signal, timeout]) : timeout });
      } catch (err) {
        if (o.signal?.aborted) return null;
        const why = timeout.aborted ? `no answer within ${o.timeoutMs} ms` : (err as Error).message;
        lastError = new DtError("unreachable", `${what}: cannot reach the master at ${this.master} (${why})`, { cause: err });
        this.noteRetry(lastError, attempt, o.attempts);
        continue;
      }
      if (res.ok || o.accept?.(res.status)) return res;
      const error = await dtErrorOfResponse(what, url, res);
      if (!isTransient(res.status)) throw error;
      lastError = error;
      this.noteRetry(error, attempt, o.attempts);
    }
    throw lastError!;
  }

  /** Warns on the first failure and every tenth after it; a master away for minutes should not flood the log. */
  private noteRetry(error: DtError, attempt: number, attempts: number): void {
    if (attempt >= attempts) return;
    const line = `${error.message}; retrying (try ${attempt + 1}${Number.isFinite(attempts) ? ` of ${attempts}` : ""})`;
    if (attempt === 1 || attempt % 10 === 0) this.log.warn(line);
    else this.log.debug(line);
  }
}

function jsonInit(body: unknown): RequestInit {
  return { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) };
}

/** 5xx: the master (or a proxy) is in trouble; 408 and 429: it asks to be asked again. */
function isTransient(status: number): boolean {
  return status >= 500 || status === 408 || status === 429;
}

