import type { Master } from "../master/master.ts";

/** Lines of each failed attempt's output shown at the end of `dt local`. */
const TAIL_LINES = 15;

/** Bytes read from a log's end for its last lines: a log has no size limit, and only its end is shown. */
const TAIL_READ_BYTES = 64 * 2 ** 10;

/**
 * Failed attempts whose output is shown: a job of 10,000 failing tasks would
 * print 300,000 lines; the rest are in the kept logs the report names.
 */
export const MAX_ATTEMPTS_SHOWN = 20;

/**
 * The last lines of each failed attempt's stdout and stderr, printed at the
 * end of `dt local` because the master's links die with it.
 */
export async function printFailureOutput(master: Master, jobId: string, out: NodeJS.WritableStream): Promise<void> {
  const { tasks } = await master.jobTasks(jobId);
  let shown = 0;
  let more = 0;
  for (const task of tasks) {
    for (const a of task.attempts) {
      if (a.state === "SUCCEEDED" || a.state === "QUEUED" || a.state === "CANCELED") continue;
      if (shown >= MAX_ATTEMPTS_SHOWN) {
        more++;
        continue;
      }
      shown++;
      for (const stream of ["stdout", "stderr"] as const) {
        const lines = await lastLines(master, jobId, task.task_id, a.attempt, stream);
        if (lines.length === 0) continue;
        out.write(`--- ${task.description}, attempt ${a.attempt}, ${stream} (last ${lines.length} lines) ---\n`);
        out.write(`${lines.join("\n")}\n`);
      }
    }
  }
  if (more > 0) out.write(`--- ${more} more failed attempts: their logs are where the report above says ---\n`);
}

/** The last TAIL_LINES non-empty lines of a log, read from its end (a read from the start gets only its first 4 MiB). */
async function lastLines(master: Master, jobId: string, taskId: string, attempt: number, stream: "stdout" | "stderr"): Promise<string[]> {
  // Past the end: nothing is read, the size is told.
  const { size } = await master.readLog(jobId, taskId, attempt, stream, Number.MAX_SAFE_INTEGER);
  const from = Math.max(0, size - TAIL_READ_BYTES);
  const log = await master.readLog(jobId, taskId, attempt, stream, from);
  let lines = new TextDecoder().decode(log.bytes).trimEnd().split("\n");
  // Read from the middle of a log, the first line is likely cut.
  if (from > 0) lines = lines.slice(1);
  return lines.filter((l) => l !== "").slice(-TAIL_LINES);
}
