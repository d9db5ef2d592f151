/**
 * The few HTTP calls the bench makes to a master: submit a job, read it and
 * its tasks, wait for it, wait for slaves. Types come from the master's own
 * protocol, so a changed field breaks the bench at type-check time.
 */
import type { JobCreated, JobRequest, JobSummary, SlaveView, TaskView } from "../../src/master/protocol.ts";

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
   * Polls the job until it reads finished; throws with its counts once
   * `deadlineMs` has passed. `pollMs` trades the bench's load on the master
   * (each poll reads every attempt of the job) against how soon it notices.
   */
  async waitFinished(jobId: string, options: { pollMs: number; deadlineMs: number }): Promise<JobSummary> {
    const deadline = performance.now() + options.deadlineMs;
    for (;;) {
      const job = await this.job(jobId);
      if (job.status === "finished") return job;
      if (performance.now() > deadline) throw new Error(`job ${jobId} not finished after ${options.deadlineMs / 1000} s: ${JSON.stringify(job.counts)}`);
      await Bun.sleep(options.pollMs);
    }
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
