import type { JobCreated, JobRequest, TaskRequest } from "../master/protocol.ts";
import { makeJobId, writeLastJobId } from "./job-id.ts";
import { type ClientSession, submittingUser } from "./session.ts";

export interface SubmitOptions {
  /** `-n NAME`: the job id's prefix. */
  name?: string;
  priority?: number;
  /** `--reuse` / `--no-reuse`: the job's `reuse` (docs/reuse.md); undefined sends none, and each task's `idempotent` decides. */
  reuse?: boolean;
  /** The master stops when the watch ends (`dt local`): its job view is offered for the run only. */
  masterStopsAfter?: boolean;
}

/**
 * Submits a job as dist_test's client did: makes the id
 * `[NAME.]<user>.<unix_ts>.<pid>`, POSTs it, logs where to watch it, and
 * writes the id (no newline) to the job path file for `watch`, `fetch`, … and
 * for CI scripts that read it.
 */
export async function submitTasks(session: ClientSession, tasks: TaskRequest[], options: SubmitOptions): Promise<JobCreated> {
  const { io, api, log } = session;
  const user = submittingUser(session);
  const jobId = makeJobId({ name: options.name, user, nowMs: io.clock.now(), pid: io.pid });
  const request: JobRequest = { job_id: jobId, user, tasks };
  if (options.name !== undefined) request.name = options.name;
  if (options.priority !== undefined) request.priority = options.priority;
  if (options.reuse !== undefined) request.reuse = options.reuse;
  const created = await api.submitJob(request);
  if (options.masterStopsAfter) log.info(`Job view while this runs (it stops with it): ${api.resolveLink(created.url)}`);
  else log.info(`Watch your results at ${api.resolveLink(created.url)}`);
  writeLastJobId(session.jobPath, created.job_id);
  log.debug(`job ${created.job_id}: ${created.tasks} tasks; id written to ${session.jobPath}`);
  return created;
}
