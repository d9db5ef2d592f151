import { errorOfResponse } from "../common/http.ts";
import { DtError, type DtErrorCode } from "../common/errors.ts";
import type { FlakyCases, JobCaseStatus, JobCasesPage, JobCreated, JobRequest, JobSummary, QuarantineList, QuarantineRequest, QuarantineView, SlaveCommand, SlaveView, TaskView } from "../master/protocol.ts";
import { type Credentials, digestFetch } from "../common/auth/digest-fetch.ts";
import type { JobFilter } from "../master/repo/repo.ts";
import { DIST_TEST_RETRY, type RetryPolicy, abortableSleep } from "./io.ts";

export const API_PREFIX = "/api/v1";

/**
 * Seconds to wait for a master's answer to start when url_timeout is unset.
 * dist_test had no default and a master that accepted the connection but
 * never answered hung the client for good; a minute covers a submit of
 * 10,000 tasks to a busy master.
 */
export const DEFAULT_URL_TIMEOUT_SEC = 60;

export interface MasterClientOptions {
  fetch?: typeof fetch;
  retry?: RetryPolicy;
  sleep?: (ms: number) => Promise<void>;
  /** Until the response's headers arrive; a download's body may take longer. */
  timeoutMs?: number;
  /** Sent only when the master asks (401), as dist_test's urllib2 did. */
  credentials?: Credentials;
}

export type { JobFilter } from "../master/repo/repo.ts";

/**
 * Per call: override the retry policy (the watch loop does its own backoff).
 * A failure worth retrying (network, timeout, 5xx) is always a DtError with
 * code "unreachable".
 */
export interface CallOptions {
  attempts?: number;
  /** Ends the request early (Ctrl-C during a held long-poll); it then fails as unreachable. */
  signal?: AbortSignal;
}

/** Hold the answer until the job's change_version differs from `version`, for at most `ms`. */
export interface WaitForChange {
  version: string;
  ms: number;
}

/**
 * The client side of the master's native API (see protocol.ts). Requests
 * that fail on the network or with a 5xx are tried again, by default as
 * dist_test's client did (10 tries, 5 s apart); 4xx answers fail at once.
 *
 * @example
 *   const api = new MasterClient("http://master:8081");
 *   const summary = await api.jobSummary("alice.1700000000.42");
 */
/** Tasks the client asks for at once: the master's largest page. */
const TASK_PAGE = 1_000;

export class MasterClient {
  /** The master's URL without a trailing slash. */
  readonly base: string;
  private readonly fetchFn: typeof fetch;
  /** fetchFn answering the master's Digest challenges; used for the master's own URLs only, never for links elsewhere (S3). */
  private readonly masterFetch: typeof fetch;
  private readonly retry: RetryPolicy;
  private readonly sleep: (ms: number) => Promise<void>;
  private readonly timeoutMs: number;
  private readonly credentials: Credentials | undefined;

  constructor(master: string, options: MasterClientOptions = {}) {
    let url: URL;
    try {
      url = new URL(master);
    } catch {
      throw new DtError("invalid_input", `master ${JSON.stringify(master)} is not a URL; write e.g. http://master:8081`);
    }
    if (url.protocol !== "http:" && url.protocol !== "https:") throw new DtError("invalid_input", `master ${master}: only http and https URLs are supported`);
    this.base = master.replace(/\/+$/, "");
    this.fetchFn = options.fetch ?? fetch;
    this.retry = options.retry ?? DIST_TEST_RETRY;
    this.sleep = options.sleep ?? ((ms) => abortableSleep(ms));
    this.timeoutMs = options.timeoutMs ?? DEFAULT_URL_TIMEOUT_SEC * 1000;
    this.credentials = options.credentials;
    this.masterFetch = this.credentials ? digestFetch(this.credentials, this.fetchFn, [url.origin]) : this.fetchFn;
  }

  async submitJob(job: JobRequest): Promise<JobCreated> {
    const res = await this.call(`submit job ${job.job_id ?? ""}`.trim(), "POST", "/jobs", JSON.stringify(job));
    return (await res.json()) as JobCreated;
  }

  /**
   * The job's summary; with `wait`, a long-poll the master answers as soon
   * as the job changed (a master without it answers at once, unchanged).
   */
  async jobSummary(jobId: string, options: CallOptions & { wait?: WaitForChange } = {}): Promise<JobSummary> {
    const { wait } = options;
    const query = wait ? `?${new URLSearchParams({ wait_version: wait.version, wait_ms: String(Math.round(wait.ms)) })}` : "";
    const res = await this.call(`job ${jobId}`, "GET", `/jobs/${encodeURIComponent(jobId)}${query}`, undefined, { ...options, extraTimeoutMs: wait?.ms }, jobId);
    return (await res.json()) as JobSummary;
  }

  /**
   * Every task of the job, read TASK_PAGE at a time (`?limit=&cursor=`): no
   * one answer of a 100,000-task job is tens of MB. A master from before
   * pages refuses `limit` without `trouble_since` (400): it is then asked
   * for the whole list at once, as it always answered.
   */
  async jobTasks(jobId: string): Promise<TaskView[]> {
    const path = `/jobs/${encodeURIComponent(jobId)}/tasks`;
    const tasks: TaskView[] = [];
    for (let cursor: string | null = null; ; ) {
      const query = new URLSearchParams({ limit: String(TASK_PAGE), ...(cursor === null ? {} : { cursor }) });
      let res: Response;
      try {
        res = await this.call(`tasks of job ${jobId}`, "GET", `${path}?${query}`, undefined, {}, jobId);
      } catch (err) {
        if (cursor !== null || !(err instanceof DtError && err.code === "invalid_input" && err.message.includes("limit is for trouble_since"))) throw err;
        const whole = await this.call(`tasks of job ${jobId}`, "GET", path, undefined, {}, jobId);
        return ((await whole.json()) as { tasks: TaskView[] }).tasks;
      }
      const page = (await res.json()) as { tasks: TaskView[]; next_cursor?: string | null };
      for (const t of page.tasks) tasks.push(t);
      // No next_cursor at all: a master that ignored the limit and sent every task.
      if (!page.next_cursor) return tasks;
      cursor = page.next_cursor;
    }
  }

  /**
   * Tasks with an attempt that ended in trouble (failed, timed out, lost to
   * the infrastructure) at `sinceMs` (the master's clock) or later, earliest
   * first, at most `limit`; `more` when some were left off (a master older
   * than the limit sends them all, and no `more`).
   */
  async jobTroubles(jobId: string, sinceMs: number, options: CallOptions & { limit?: number } = {}): Promise<{ tasks: TaskView[]; more: boolean }> {
    const query = new URLSearchParams({ trouble_since: String(Math.max(0, Math.floor(sinceMs))) });
    if (options.limit !== undefined) query.set("limit", String(options.limit));
    const res = await this.call(`failed tasks of job ${jobId}`, "GET", `/jobs/${encodeURIComponent(jobId)}/tasks?${query}`, undefined, options, jobId);
    const body = (await res.json()) as { tasks: TaskView[]; more?: boolean };
    return { tasks: body.tasks, more: body.more === true };
  }

  /** One page of the job's test cases (GET jobs/:job/cases); `status` "failed" includes crashed ones. */
  async jobCases(jobId: string, query: { status?: JobCaseStatus | "all"; limit?: number; cursor?: string | null } = {}): Promise<JobCasesPage> {
    const params = new URLSearchParams();
    if (query.status !== undefined) params.set("status", query.status);
    if (query.limit !== undefined) params.set("limit", String(query.limit));
    if (query.cursor) params.set("cursor", query.cursor);
    const qs = params.size > 0 ? `?${params}` : "";
    const res = await this.call(`test cases of job ${jobId}`, "GET", `/jobs/${encodeURIComponent(jobId)}/cases${qs}`, undefined, {}, jobId);
    return (await res.json()) as JobCasesPage;
  }

  /** GET tests/flaky: `since` as the master reads it (7d, epoch ms, an ISO date), so a duration counts back from the master's clock. */
  async flakyCases(query: { since?: string; minRuns?: number; limit?: number; binary?: string } = {}): Promise<FlakyCases> {
    const params = new URLSearchParams();
    if (query.since !== undefined) params.set("since", query.since);
    if (query.minRuns !== undefined) params.set("min_runs", String(query.minRuns));
    if (query.limit !== undefined) params.set("limit", String(query.limit));
    if (query.binary !== undefined) params.set("binary", query.binary);
    const qs = params.size > 0 ? `?${params}` : "";
    const res = await this.call("flaky test cases", "GET", `/tests/flaky${qs}`);
    return (await res.json()) as FlakyCases;
  }

  async cancelJob(jobId: string): Promise<JobSummary> {
    const res = await this.call(`cancel job ${jobId}`, "POST", `/jobs/${encodeURIComponent(jobId)}/cancel`, undefined, {}, jobId);
    return (await res.json()) as JobSummary;
  }

  async listJobs(filter: JobFilter = {}): Promise<JobSummary[]> {
    const query = new URLSearchParams();
    for (const [key, value] of Object.entries(filter)) if (value !== undefined && value !== "") query.set(key, String(value));
    const qs = query.size > 0 ? `?${query}` : "";
    const res = await this.call("list jobs", "GET", `/jobs${qs}`);
    return ((await res.json()) as { jobs: JobSummary[] }).jobs;
  }

  async listSlaves(): Promise<SlaveView[]> {
    const res = await this.call("list slaves", "GET", "/slaves");
    return ((await res.json()) as { slaves: SlaveView[] }).slaves;
  }

  async slave(name: string, options: CallOptions = {}): Promise<SlaveView> {
    const res = await this.call(`slave ${name}`, "GET", `/slaves/${encodeURIComponent(name)}`, undefined, options);
    return (await res.json()) as SlaveView;
  }

  /** An operator's drain, quarantine or resume; the master passes it on with the slave's next call. */
  async commandSlave(name: string, command: SlaveCommand): Promise<SlaveView> {
    const res = await this.call(`${command.action} slave ${name}`, "POST", `/slaves/${encodeURIComponent(name)}/${command.action}`, JSON.stringify({ reason: command.reason }));
    return (await res.json()) as SlaveView;
  }

  /** The active quarantine entries; with `all`, the removed and expired ones too (newest first). */
  async listQuarantine(all = false): Promise<QuarantineView[]> {
    const res = await this.call("quarantine list", "GET", `/quarantine${all ? "?all=1" : ""}`);
    return ((await res.json()) as QuarantineList).entries;
  }

  async addQuarantine(request: QuarantineRequest): Promise<QuarantineView> {
    const res = await this.call(`quarantine ${request.suite}.${request.name}`, "POST", "/quarantine", JSON.stringify(request));
    return (await res.json()) as QuarantineView;
  }

  /** Ends entry `id` now; the master keeps it (removed) for history. */
  async removeQuarantine(id: number, user: string): Promise<QuarantineView> {
    const res = await this.call(`remove quarantine entry ${id}`, "DELETE", `/quarantine/${id}?${new URLSearchParams({ user })}`);
    return (await res.json()) as QuarantineView;
  }

  /** A link from the master (a log, an archive) made absolute; it may point elsewhere (S3). */
  resolveLink(link: string): string {
    return new URL(link, `${this.base}/`).toString();
  }

  /** GETs a link (see resolveLink), tried `attempts` times (as any request by default); the body is left to the caller. */
  async download(link: string, what: string, attempts = this.retry.attempts): Promise<Response> {
    return this.request(what, this.resolveLink(link), { method: "GET" }, attempts);
  }

  private call(what: string, method: string, path: string, body?: string, options: CallOptions & { extraTimeoutMs?: number } = {}, jobId?: string): Promise<Response> {
    const init: RequestInit = { method, headers: body === undefined ? {} : { "Content-Type": "application/json" }, body, signal: options.signal };
    return this.request(what, `${this.base}${API_PREFIX}${path}`, init, options.attempts ?? this.retry.attempts, jobId, options.extraTimeoutMs);
  }

  /** `extraTimeoutMs`: added to the timeout, for an answer the master holds on purpose (a long-poll). */
  private async request(what: string, url: string, init: RequestInit, attempts: number, jobId?: string, extraTimeoutMs = 0): Promise<Response> {
    let lastError: DtError | undefined;
    for (let attempt = 1; attempt <= Math.max(1, attempts); attempt++) {
      if (attempt > 1) await this.sleep(this.retry.delayMs);
      let res: Response;
      try {
        res = await this.send(url, init, extraTimeoutMs);
      } catch (err) {
        if (err instanceof DtError) throw err;
        lastError = new DtError("unreachable", `${what}: cannot reach ${url} (${(err as Error).message}); is the master running?`, { cause: err });
        continue;
      }
      if (res.ok) return res;
      const error = await responseError(what, url, res, jobId);
      // 429 (too many requests) is a busy server, worth waiting for like a 5xx.
      if (res.status < 500 && res.status !== 429) throw error;
      lastError = error;
    }
    throw lastError!;
  }

  /** One fetch (answering the master's auth challenges); a refusal is an `unauthorized` error saying what to set. */
  private async send(url: string, init: RequestInit, extraTimeoutMs = 0): Promise<Response> {
    const res = await this.fetchWithTimeout(sameOrigin(url, this.base) ? this.masterFetch : this.fetchFn, url, init, extraTimeoutMs);
    if (res.status !== 401 || !sameOrigin(url, this.base)) return res;
    const { message } = await errorOfResponse(res);
    const hint = this.credentials
      ? `the master refused user ${JSON.stringify(this.credentials.user)}; check user and password in the config`
      : "the master asks for a password; set user and password under [dist_test] in the config, or DIST_TEST_USER and DIST_TEST_PASSWORD";
    throw new DtError("unauthorized", `${init.method} ${url}: ${hint} (the master said: ${message})`);
  }

  private async fetchWithTimeout(fetchFn: typeof fetch, url: string, init: RequestInit, extraTimeoutMs = 0): Promise<Response> {
    const controller = new AbortController();
    const timeoutMs = this.timeoutMs + extraTimeoutMs;
    const timer = setTimeout(() => controller.abort(new Error(`no answer within ${timeoutMs / 1000} s`)), timeoutMs);
    const signal = init.signal ? AbortSignal.any([controller.signal, init.signal]) : controller.signal;
    try {
      return await fetchFn(url, { ...init, signal });
    } finally {
      clearTimeout(timer);
    }
  }
}

function sameOrigin(url: string, base: string): boolean {
  return new URL(url).origin === new URL(base).origin;
}

const CODE_OF_STATUS: Record<number, DtErrorCode> = { 400: "invalid_input", 401: "unauthorized", 403: "unauthorized", 404: "not_found", 413: "too_large" };

/** A DtError for a non-2xx answer, keeping the master's own message and code when it sent them. */
async function responseError(what: string, url: string, res: Response, jobId?: string): Promise<DtError> {
  const parsed = await errorOfResponse(res);
  const message = parsed.message;
  let code = parsed.code;
  // Every 5xx is the master's trouble, not the request's: "unreachable", which callers retry.
  if (res.status >= 500 || res.status === 429) code = "unreachable";
  code ??= CODE_OF_STATUS[res.status] ?? "invalid_input";
  if (jobId !== undefined && res.status === 404) {
    // The master's own words only when they are not the same news (a 404 for a missing route, say).
    const said = message.startsWith("no job") ? "" : ` (the master said: ${message})`;
    return new DtError("not_found", `no job ${JSON.stringify(jobId)} on the master at ${new URL(url).origin}${said}; check the id, or list recent jobs with dt jobs`);
  }
  return new DtError(code, `${what}: ${res.status} from ${url}: ${message}`);
}
