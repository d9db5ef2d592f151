import { DtError } from "../../common/errors.ts";
import { type Attempt, type Job, type Task, taskBinary } from "../model.ts";
import type { BinaryTaskRow } from "./schema-sqlite.ts";

/** Refuses a job whose tasks or attempts belong elsewhere or repeat, before anything is written. */
export function checkJobParts(job: Job, taskList: readonly Task[], attemptList: readonly Attempt[]): void {
  const taskIds = new Set<string>();
  for (const task of taskList) {
    if (task.jobId !== job.id) throw new DtError("invalid_input", `task ${task.taskId} names job ${task.jobId}, not ${job.id}`);
    if (taskIds.has(task.taskId)) throw new DtError("invalid_input", `task id ${task.taskId} appears twice in job ${job.id}`);
    taskIds.add(task.taskId);
  }
  for (const a of attemptList) {
    if (a.jobId !== job.id || !taskIds.has(a.taskId)) throw new DtError("invalid_input", `attempt ${a.attempt} of ${a.jobId}/${a.taskId} is not for a task of job ${job.id}`);
  }
}

/** The job's rows of binary_tasks: each task's binary, under the job's time (Repo.binaryHistory reads them). */
export function binaryTaskRows(job: Job, taskList: readonly Task[]): BinaryTaskRow[] {
  return taskList.map((t) => ({ binary: taskBinary(t), jobId: job.id, taskId: t.taskId, index: t.index, createdAt: job.createdAt }));
}
