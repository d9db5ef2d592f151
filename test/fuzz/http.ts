/**
 * HTTP fuzzing against a real master: started in a worker (master-worker.ts)
 * on port 0 with its own data dir, fed mutated requests with fetch, each
 * answer checked, then checked for damage: /healthz answers and a job
 * submitted before the fuzzing reads exactly as it did.
 *
 * @example
 *   const master = await startFuzzMaster();
 *   const sentinel = await submitSentinel(master.url);
 *   const report = await fuzzHttp(master, settings, () => nextRequest());
 *   await sentinel.expectIntact();
 */
import { writeFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect } from "bun:test";
import { type FuzzSettings, showBytes } from "./harness.ts";
import type { MasterWorkerMessage } from "./master-worker.ts";

/**
 * Longest a request may take. The largest valid job a fuzzed body can ask
 * for (200,000 tasks through shards) is stored in a few seconds on a loaded
 * machine; no answer by then is a hang.
 */
export const REQUEST_TIMEOUT_MS = 20_000;

/** The codes a refused request may carry: the request was wrong, too big, or named a job that does not exist. */
const REFUSAL_CODES: ReadonlySet<string> = new Set(["invalid_input", "too_large", "not_found"]);

/**
 * Bun's HTTP server refuses a request line or headers past its limit
 * (16 KiB) itself, with an empty body, before dt's code sees the request.
 */
const SERVER_REFUSALS: ReadonlySet<number> = new Set([414, 431]);

export interface FuzzRequest {
  method: "GET" | "POST";
  /** Path and query string, e.g. `/job_status?job_id=x`. */
  path: string;
  headers?: Record<string, string>;
  body?: Uint8Array;
}

export interface FuzzMaster {
  url: string;
  /** Error lines the master logged so far (a 500 logs its cause). */
  errorLog: string[];
  stop(): Promise<void>;
}

/** A master in a worker thread with a fresh data dir; `stop` ends it and removes the dir. */
export async function startFuzzMaster(): Promise<FuzzMaster> {
  const dataDir = await mkdtemp(join(tmpdir(), "dt-fuzz-master-"));
  const worker = new Worker(new URL("./master-worker.ts", import.meta.url).href);
  const errorLog: string[] = [];
  let onStopped: (() => void) | undefined;
  const url = await new Promise<string>((resolve, reject) => {
    worker.onmessage = (event: MessageEvent<MasterWorkerMessage>) => {
      const message = event.data;
      if ("started" in message) resolve(message.started.url);
      else if ("log" in message) errorLog.push(message.log);
      else if ("stopped" in message) onStopped?.();
      else reject(new Error(`the fuzzed master failed: ${message.error}`));
    };
    worker.onerror = (event) => reject(new Error(`the fuzzed master's worker failed: ${event.message}`));
    worker.postMessage({ start: { dataDir } });
  });
  return {
    url,
    errorLog,
    async stop() {
      // A master stuck in a handler never answers; give it a few seconds, then stop the thread regardless.
      const stopped = new Promise<void>((resolve) => (onStopped = resolve));
      worker.postMessage({ stop: true });
      await Promise.race([stopped, Bun.sleep(5_000)]);
      worker.terminate();
      worker.unref();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

export interface HttpFuzzReport {
  requests: number;
  /** Count of answers by status. */
  statuses: Record<number, number>;
}

/** A request as a reader can replay it; the body in full goes to a file when it is long. */
function describeRequest(request: FuzzRequest, settings: FuzzSettings): string {
  const body = request.body ? showBytes(request.body) : "";
  const lines = [`${request.method} ${request.path}`, ...Object.entries(request.headers ?? {}).map(([k, v]) => `${k}: ${v}`)];
  if (body.length > 2_000) {
    const file = join(tmpdir(), `dt-fuzz-${settings.name.replace(/\W+/g, "-")}-${settings.seed}-body.txt`);
    writeFileSync(file, body);
    lines.push(`body: ${body.slice(0, 2_000)}… (${body.length} characters; in full in ${file})`);
  } else if (request.body) lines.push(`body: ${body}`);
  return lines.join("\n");
}

/**
 * Sends requests from `next` for `settings.budgetMs`, one at a time. Fails,
 * naming the request, on a 5xx, on an error that is not dt's JSON with a
 * refusal code, and on no answer within REQUEST_TIMEOUT_MS.
 */
export async function fuzzHttp(master: FuzzMaster, settings: FuzzSettings, next: () => FuzzRequest): Promise<HttpFuzzReport> {
  const report: HttpFuzzReport = { requests: 0, statuses: {} };
  const started = performance.now();
  const deadline = started + settings.budgetMs;
  while (performance.now() < deadline) {
    const request = next();
    report.requests++;
    const fail = (problem: string): never => {
      const log = master.errorLog.length > 0 ? `\nthe master logged:\n${master.errorLog.slice(-5).join("")}` : "";
      throw new Error(`fuzz ${settings.name}: request #${report.requests} of seed ${settings.seed} ${problem}\n${describeRequest(request, settings)}${log}`);
    };
    let status: number;
    let text: string;
    let type: string;
    try {
      const res = await fetch(`${master.url}${request.path}`, {
        method: request.method, headers: request.headers, body: request.body, signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
      });
      [status, type, text] = [res.status, res.headers.get("content-type") ?? "", await res.text()];
    } catch (err) {
      return fail(`got no answer: ${(err as Error).message}`);
    }
    report.statuses[status] = (report.statuses[status] ?? 0) + 1;
    if (status >= 500) fail(`was answered ${status}: ${text.slice(0, 500)}`);
    if (status >= 400 && !SERVER_REFUSALS.has(status)) {
      let code: unknown;
      try {
        code = (JSON.parse(text) as { code?: unknown }).code;
      } catch {
        code = undefined;
      }
      if (!type.startsWith("application/json") || typeof code !== "string" || !REFUSAL_CODES.has(code)) {
        fail(`was refused with ${status} ${type} without one of dt's refusal codes: ${text.slice(0, 500)}`);
      }
    }
  }
  const elapsedMs = performance.now() - started;
  const statuses = Object.entries(report.statuses).map(([status, n]) => `${n}× ${status}`).join(", ");
  console.log(`fuzz ${settings.name}: ${report.requests} requests in ${elapsedMs.toFixed(0)} ms (${statuses})`);
  return report;
}

/** Everything the master tells about one job, as text that must not change. */
async function jobViews(url: string, jobId: string): Promise<Record<string, unknown>> {
  const id = encodeURIComponent(jobId);
  const paths = [`/api/v1/jobs/${id}`, `/api/v1/jobs/${id}/tasks`, `/job_status?job_id=${id}`, `/tasks?job_id=${id}`, `/failed_tasks?job_id=${id}`];
  const views: Record<string, unknown> = {};
  for (const path of paths) {
    const res = await fetch(`${url}${path}`, { signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) });
    views[path] = { status: res.status, body: await res.json() };
  }
  return views;
}

/** The id of the job submitted before fuzzing; no seed names it, so only corruption could change it. */
export const SENTINEL_JOB_ID = "fuzz-sentinel.1700000000.1";

/**
 * Submits a job to watch: two tasks (one sharded in two), env and
 * dimensions. `expectIntact` checks that every view of it reads as it did
 * right after submission, and that the master still answers /healthz.
 */
export async function submitSentinel(url: string): Promise<{ expectIntact(): Promise<void> }> {
  // ["__proto__"] is computed, so it is an own key as in parsed JSON, not the object's prototype.
  const job = {
    job_id: SENTINEL_JOB_ID, name: "fuzz-sentinel", user: "sentinel", priority: 3,
    tasks: [
      { isolate_hash: "5".repeat(64), description: "sentinel-a", timeout: 60, max_retries: 1, env: { SENTINEL: "1", ["__proto__"]: "kept" }, dimensions: { os: "linux" } },
      { isolate_hash: "6".repeat(64), description: "sentinel-b", shards: 2, artifact_archive_globs: ["out/*.xml"] },
    ],
  };
  const res = await fetch(`${url}/api/v1/jobs`, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(job) });
  expect(res.status).toBe(201);
  const before = await jobViews(url, SENTINEL_JOB_ID);
  expect(before[`/api/v1/jobs/${SENTINEL_JOB_ID}`]).toMatchObject({ status: 200, body: { job_id: SENTINEL_JOB_ID, counts: { total_tasks: 3 } } });
  return {
    async expectIntact() {
      expect((await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) })).status).toBe(200);
      expect(await jobViews(url, SENTINEL_JOB_ID)).toEqual(before);
    },
  };
}
