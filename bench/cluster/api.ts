/**
 * The few HTTP calls the bench makes to a master: submit a job, read it and
 * its tasks, wait for it, wait for slaves. Types come from the master's own
 * protocol, so a changed field breaks the bench at type-check time.
 */
import { attemptTally } from "./attempts.ts";
import type { JobCreated, JobRequest, JobSummary, SlaveView, TaskView } from "../../src/master/protocol.ts";

/** No task of a job changed state for this long: stuck. More than the longest task the bench runs (10 s) plus a lease TTL (30 s). */
const STALL_MS = 60_000;

export class MasterApi {
  constructor(readonly url: string) {}

  private async call<T>(method: "GET" | "POST" | "PUT", path: string, body?: string | Uint8Array): Promise<T> {
    const response = await fetch(`${this.url}${path}`, { method, body, headers: body === undefined ? {} : { "Content-Type": "application/json" } });
    const text = await response.text();
    if (!response.ok) throw new Error(`${method} ${path}: HTTP ${response.status}: ${text.slice(0, 500)}`);
    return (text === "" ? undefined : JSON.parse(text)) as T;
  }

  /** POST /api/v1/jobs with a body already serialized, so the caller can time the request alone. */
  submitJson(body: string): Promise<JobCreated> {
    return this.call("POST", "/api/v1/jobs", body);
  }

  submit(job: JobRequest): Promise<JobCreated> {
    return this.submitJson(JSON.stringify(job));
  }

  job(jobId: string): Promise<JobSummary> {
    return this.call("GET", `/api/v1/jobs/${encodeURIComponent(jobId)}`);
  }

  async tasks(jobId: string): Promise<TaskView[]> {
    return (await this.call<{ tasks: TaskView[] }>("GET", `/api/v1/jobs/${encodeURIComponent(jobId)}/tasks`)).tasks;
  }

  /** dist_test's summary, as its client polls it. */
  distTestJobStatus(jobId: string): Promise<Record<string, unknown>> {
    return this.call("GET", `/job_status?job_id=${encodeURIComponent(jobId)}`);
  }

  async slaves(): Promise<SlaveView[]> {
    return (await this.call<{ slaves: SlaveView[] }>("GET", "/api/v1/slaves")).slaves;
  }

  /** Stores one blob in the master's CAS (PUT, verified there against the digest). */
  async putBlob(hash: string, bytes: Uint8Array): Promise<void> {
    await this.call("PUT", `/api/cas/v1/blobs/${hash}?size=${bytes.byteLength}`, bytes);
  }

  /**
   * Polls the job until it reads finished; throws with its counts and a
   * tally of its attempts once `deadlineMs` has passed, when nothing has
   * changed for STALL_MS, or as soon as a task was retried. `pollMs`
   * trades the bench's load on the master (each poll reads every attempt
   * of the job) against how soon it notices.
   */
  async waitFinished(jobId: string, options: { pollMs: number; deadlineMs: number }): Promise<JobSummary> {
    const deadline = performance.now() + options.deadlineMs;
    let counts = "";
    let changedAt = performance.now();
    for (;;) {
      const job = await this.job(jobId);
      if (job.status === "finished") return job;
      const now = performance.now();
      if (now > deadline) throw new Error(`job ${jobId} not finished after ${options.deadlineMs / 1000} s: ${await this.describe(jobId, job)}`);
      // Every measurement needs tasks that ran once: a retry already spoils the figures, so say why now rather than at the end.
      if (job.counts.retries > 0) throw new Error(`job ${jobId}: a task was retried: ${await this.describe(jobId, job)}`);
      if (JSON.stringify(job.counts) !== counts) [counts, changedAt] = [JSON.stringify(job.counts), now];
      else if (now - changedAt > STALL_MS) throw new Error(`job ${jobId}: no progress for ${STALL_MS / 1000} s: ${await this.describe(jobId, job)}`);
      await Bun.sleep(options.pollMs);
    }
  }

  /** A stuck job's counts and what its retried tasks' attempts came to (or, if none was retried, its unfinished tasks'). */
  private async describe(jobId: string, job: JobSummary): Promise<string> {
    const tasks = await this.tasks(jobId).catch(() => []);
    const retried = tasks.filter((t) => t.attempts.length > 1);
    if (retried.length > 0) return `${JSON.stringify(job.counts)}; ${retried.length} tasks retried, ${attemptTally(retried)}`;
    const unfinished = tasks.filter((t) => t.attempts[0]?.state !== "SUCCEEDED");
    if (unfinished.length > 0) return `${JSON.stringify(job.counts)}; ${unfinished.length} tasks not succeeded, ${attemptTally(unfinished)}`;
    // Every task done by the time the tasks were read: late, or the summary disagrees with them.
    const again = await this.job(jobId).catch(() => undefined);
    const lastReport = Math.max(...tasks.flatMap((t) => t.attempts.map((a) => a.reported_at ?? 0)));
    return `${JSON.stringify(job.counts)}; yet every task read SUCCEEDED right after (the last reported ${Date.now() - lastReport} ms before), ${attemptTally(tasks)}; the job read again: ${again?.status} ${JSON.stringify(again?.counts)}`;
  }

  /** Waits until `count` slaves are registered and idle, i.e. each has asked for work at least once. */
  async waitSlavesIdle(count: number, deadlineMs: number): Promise<void> {
    const deadline = performance.now() + deadlineMs;
    for (;;) {
      const idle = (await this.slaves()).filter((s) => s.state === "idle").length;
      if (idle >= count) return;
      if (performance.now() > deadline) throw new Error(`only ${idle} of ${count} slaves registered with ${this.url} within ${deadlineMs / 1000} s`);
      await Bun.sleep(20);
    }
  }
}

/** Wall time of one call, ms. */
export async function timed<T>(call: () => Promise<T>): Promise<{ ms: number; value: T }> {
  const started = performance.now();
  const value = await call();
  return { ms: performance.now() - started, value };
}
