import { DtError } from "../../common/errors.ts";
import type { Attempt, Job, Task } from "../model.ts";

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
