/**
 * A job's tasks and attempts as the native API shows them (TaskView,
 * AttemptView): the one way both the whole task list and a watcher's
 * troubles are written.
 */
import { type ArtifactStore, masterArtifactLink } from "../artifacts/artifact-store.ts";
import { caseSelectionView } from "../cases/selection-view.ts";
import { type Attempt, type Job, type Task, taskBinary } from "../model.ts";
import type { AttemptView, TaskView } from "../protocol.ts";
import { groupState } from "./status.ts";

/** Links are the store's (presigned for S3); the `*_master_link`s go through this master, for clients that cannot reach the store. */
export async function attemptView(a: Attempt, artifacts: ArtifactStore, publicUrl: string): Promise<AttemptView> {
  const link = async (key: string | null) => (key ? artifacts.link(key, publicUrl) : null);
  const masterLink = (key: string | null) => (key ? masterArtifactLink(key, publicUrl) : null);
  const [stdout, stderr, archive] = await Promise.all([link(a.stdoutKey), link(a.stderrKey), link(a.artifactKey)]);
  return {
    attempt: a.attempt, retry: a.retry, state: a.state, slave: a.slave, exit_code: a.exitCode, message: a.message,
    queued_at: a.queuedAt, leased_at: a.leasedAt, fetch_done_at: a.fetchDoneAt, map_done_at: a.mapDoneAt,
    command_start_at: a.commandStartAt, command_end_at: a.commandEndAt, upload_done_at: a.uploadDoneAt, reported_at: a.reportedAt,
    stdout_link: stdout, stderr_link: stderr, artifact_archive_link: archive,
    stdout_master_link: masterLink(a.stdoutKey), stderr_master_link: masterLink(a.stderrKey), artifact_archive_master_link: masterLink(a.artifactKey),
    artifact_missing: a.artifactMissing, cache: a.cache, outputs_ref: a.outputsRef, case_selection: caseSelectionView(a.caseSelection), quarantined: a.quarantined,
    ...(a.reusedFrom ? { reused_from: { job_id: a.reusedFrom.jobId, task_id: a.reusedFrom.taskId, attempt: a.reusedFrom.attempt, saved_ms: a.reusedFrom.savedMs, in_flight: a.reusedFrom.inFlight, url: `${publicUrl}/job?job_id=${encodeURIComponent(a.reusedFrom.jobId)}` } } : {}),
  };
}

/** One task with all its attempts (`group`, oldest first), each made an AttemptView by `view`. */
export async function taskView(t: Task, group: readonly Attempt[], job: Job, view: (a: Attempt) => Promise<AttemptView>): Promise<TaskView> {
  return {
    task_id: t.taskId, description: t.description, binary: taskBinary(t), shard_index: t.shardIndex, shard_count: t.shardCount, group: groupState(group, job), max_retries: t.maxRetries, timeout: t.timeoutSec,
    dimensions: t.dimensions, attempts: await Promise.all(group.map(view)),
  };
}
