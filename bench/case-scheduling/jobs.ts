/**
 * The bench's side of a master: the binaries archived into its CAS (one
 * `dt archive` of the tree that holds them all, then one manifest per
 * binary whose command runs it), jobs submitted as raw JSON (so task keys a
 * master may not know yet, such as `"shards": "auto"`, reach it as written
 * and are refused there, not here), waited for through the job long-poll,
 * and read back with their tasks and cases.
 */
import { copyFileSync, mkdirSync, readFileSync } from "node:fs";
import { basename, join } from "node:path";
import { encodeIsolated, parseIsolated } from "../../src/isolate/manifest.ts";
import type { JobCasesPage, JobCaseView, JobSummary, TaskView } from "../../src/master/protocol.ts";
import type { MasterApi } from "../cluster/api.ts";
import { timedRun } from "../isolate/procs.ts";

/** `dt archive` of five small binaries takes well under a second; a minute means it hung. */
const ARCHIVE_TIMEOUT_MS = 60_000;
/** How long the master may hold one long-poll of the job (it caps it at 25 s itself). */
const LONG_POLL_MS = 10_000;

/**
 * Copies the binaries into `dir/tree`, archives the tree to the master's
 * CAS and uploads one manifest per binary with the command `./<file>`;
 * returns each manifest's digest by file name.
 */
export async function archiveBinaries(dt: string, api: MasterApi, binaries: readonly string[], dir: string): Promise<Map<string, string>> {
  const tree = join(dir, "tree");
  mkdirSync(tree, { recursive: true });
  for (const path of binaries) copyFileSync(path, join(tree, basename(path)));
  const manifestPath = join(dir, "tree.isolated");
  const first = basename(binaries[0]!);
  const { stdout } = await timedRun(
    [dt, "archive", "--isolate-server", api.url, "--hash-cache", "none", "--root", tree, "--path", ".", "-s", manifestPath, "--log-level", "warn", "--", `./${first}`],
    { timeoutMs: ARCHIVE_TIMEOUT_MS },
  );
  if (!/^[0-9a-f]{64} {2}/m.test(stdout)) throw new Error(`dt archive printed no digest: ${stdout}`);
  const isolated = parseIsolated(readFileSync(manifestPath), manifestPath);
  const digests = new Map<string, string>();
  for (const path of binaries) {
    const { bytes, digest } = encodeIsolated({ ...isolated, command: [`./${basename(path)}`] });
    await api.putBlob(digest.hash, bytes);
    digests.set(basename(path), digest.hash);
  }
  return digests;
}

/** A task as the bench submits it: dist_test's keys and dt's, including ones the master may not know yet. */
export type TaskJson = { isolate_hash: string; description: string } & Record<string, unknown>;

/** The master said no to a job (HTTP 4xx): the feature it asked for is not in this build, or its keys are wrong. */
export class JobRefused extends Error {}

/**
 * POSTs the job and returns its id with the bench's clock (epoch ms) just
 * before the request: the makespan's start. A 4xx answer throws JobRefused
 * with the master's message.
 */
export async function submitJob(api: MasterApi, name: string, tasks: readonly TaskJson[]): Promise<{ jobId: string; postedAt: number }> {
  const postedAt = Date.now();
  const response = await fetch(`${api.url}/api/v1/jobs`, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ name, tasks }) });
  const text = await response.text();
  if (response.status >= 400 && response.status < 500) throw new JobRefused(`HTTP ${response.status}: ${errorMessage(text)}`);
  if (!response.ok) throw new Error(`POST /api/v1/jobs (${name}): HTTP ${response.status}: ${text.slice(0, 500)}`);
  return { jobId: (JSON.parse(text) as { job_id: string }).job_id, postedAt };
}

/** The `error` of dt's error body, or the body's start when it is not one. */
function errorMessage(body: string): string {
  try {
    const error = (JSON.parse(body) as { error?: unknown }).error;
    if (typeof error === "string") return error.slice(0, 400);
  } catch {
    // Not JSON: a proxy's page, say.
  }
  return body.slice(0, 400);
}

/** Waits, through the job's long-poll, until it reads finished; throws after `deadlineMs`. Retries are expected here. */
export async function waitFinished(api: MasterApi, jobId: string, deadlineMs: number): Promise<JobSummary> {
  const deadline = performance.now() + deadlineMs;
  const path = `${api.url}/api/v1/jobs/${encodeURIComponent(jobId)}`;
  let job = (await (await fetch(path)).json()) as JobSummary;
  while (job.status !== "finished") {
    if (performance.now() > deadline) throw new Error(`job ${jobId} not finished after ${deadlineMs / 1000} s: ${JSON.stringify(job.counts)}`);
    // Masters before the long-poll have no change_version: poll them every 250 ms instead.
    const query = job.change_version ? `?wait_version=${encodeURIComponent(job.change_version)}&wait_ms=${LONG_POLL_MS}` : "";
    if (!job.change_version) await Bun.sleep(250);
    const response = await fetch(`${path}${query}`);
    if (!response.ok) throw new Error(`GET ${path}: HTTP ${response.status}: ${(await response.text()).slice(0, 500)}`);
    job = (await response.json()) as JobSummary;
  }
  return job;
}

/** Every case of the job (all statuses), page by page. */
export async function jobCases(api: MasterApi, jobId: string): Promise<JobCaseView[]> {
  const cases: JobCaseView[] = [];
  let cursor: string | null = null;
  do {
    const query: string = `status=all&limit=1000${cursor === null ? "" : `&cursor=${cursor}`}`;
    const response = await fetch(`${api.url}/api/v1/jobs/${encodeURIComponent(jobId)}/cases?${query}`);
    if (!response.ok) throw new Error(`GET cases of ${jobId}: HTTP ${response.status}: ${(await response.text()).slice(0, 500)}`);
    const page = (await response.json()) as JobCasesPage;
    cases.push(...page.cases);
    cursor = page.next_cursor;
  } while (cursor !== null);
  return cases;
}

/** A finished job as the bench reads it. */
export interface FinishedJob {
  jobId: string;
  /** The bench's wall clock (epoch ms) just before the POST: the attempts' timestamps are on the same clock. */
  postedAt: number;
  /** The POST to the long-poll's answer that the job finished, on the bench's monotonic clock: the makespan as a client sees it. */
  observedMs: number;
  summary: JobSummary;
  tasks: TaskView[];
  cases: JobCaseView[];
}

/** Submits, waits and reads the job's tasks and cases. */
export async function runJob(api: MasterApi, name: string, tasks: readonly TaskJson[], deadlineMs: number): Promise<FinishedJob> {
  const started = performance.now();
  const { jobId, postedAt } = await submitJob(api, name, tasks);
  const summary = await waitFinished(api, jobId, deadlineMs);
  const observedMs = performance.now() - started;
  return { jobId, postedAt, observedMs, summary, tasks: await api.tasks(jobId), cases: await jobCases(api, jobId) };
}
