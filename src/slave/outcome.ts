import type { Lease, ReportedTimes, ResultReport } from "../master/protocol.ts";
import type { CacheCounts, ReportedState } from "../master/model.ts";
import { exitCodeForSignal } from "../isolate/run/execute.ts";
import type { RunIsolatedResult } from "../isolate/run/run-isolated.ts";

/**
 * Why the slave stopped an attempt itself. cancel: the master canceled the
 * job; unknown: the master took the lease back; drain: the slave is shutting
 * down and the attempt outlived --drain-timeout.
 */
export type AbortReason = "cancel" | "unknown" | "drain";

export interface Outcome {
  state: ReportedState;
  exit_code: number | null;
  message: string | null;
}

/**
 * The state a slave reports for a run, by precedence: the slave's own abort
 * first (a drained attempt is the slave's fault, a canceled one nobody's),
 * then dt's internal failure (the test's logs or tree are not to be
 * trusted), then timeout, then the test's own failure to start, then its
 * exit.
 */
export function outcomeOf(result: RunIsolatedResult, reason: AbortReason | undefined, drainMessage: string, timeoutSec: number): Outcome {
  if (result.canceled && reason === "drain") return { state: "INFRA_FAILED", exit_code: result.exit_code, message: drainMessage };
  if (result.canceled && reason === "cancel") return { state: "CANCELED", exit_code: result.exit_code, message: "canceled: the job was canceled on the master" };
  if (result.internal_failure) return { state: "INFRA_FAILED", exit_code: result.exit_code, message: result.internal_failure };
  if (result.timed_out) {
    return { state: "TIMED_OUT", exit_code: exitCode(result), message: `timed out after ${timeoutSec} s and was killed (${result.signal ?? `exit ${result.exit_code}`})` };
  }
  if (result.canceled) return { state: "CANCELED", exit_code: result.exit_code, message: "canceled" };
  if (result.task_error) return { state: "FAILED", exit_code: null, message: result.task_error };
  if (result.exit_code === 0) return { state: "SUCCEEDED", exit_code: 0, message: null };
  if (result.exit_code !== null) return { state: "FAILED", exit_code: result.exit_code, message: null };
  return { state: "FAILED", exit_code: exitCode(result), message: `killed by ${result.signal ?? "a signal"}` };
}

/** The exit code, or the shell's 128+N for a signal, so that the master always has a number to show. */
function exitCode(result: RunIsolatedResult): number | null {
  if (result.exit_code !== null) return result.exit_code;
  return result.signal ? exitCodeForSignal(result.signal) : null;
}

export function cacheCountsOf(result: RunIsolatedResult): CacheCounts {
  const c = result.stats.cache;
  return { itemsHot: c.items_hot, bytesHot: c.bytes_hot, itemsCold: c.items_cold, bytesCold: c.bytes_cold };
}

export function emptyTimes(): ReportedTimes {
  return { fetch_done_at: null, map_done_at: null, command_start_at: null, command_end_at: null, upload_done_at: null };
}

/** A report for a lease that was never run (it came in as the slave began to drain). */
export function notRunReport(lease: Lease, message: string): ResultReport {
  return {
    ...leaseIds(lease),
    state: "INFRA_FAILED",
    exit_code: null,
    message,
    times: emptyTimes(),
    cache: null,
    stdout_key: null,
    stderr_key: null,
    artifact_key: null,
    artifact_missing: false,
  };
}

export function leaseIds(lease: Lease): Pick<ResultReport, "lease_id" | "job_id" | "task_id" | "attempt"> {
  return { lease_id: lease.lease_id, job_id: lease.job_id, task_id: lease.task_id, attempt: lease.attempt };
}
