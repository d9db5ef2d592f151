import type { Logger } from "../common/log.ts";
import type { AttemptView, JobCounts, JobSummary, TaskView } from "../master/protocol.ts";
import type { MasterClient } from "./api.ts";
import { printable } from "./printable.ts";

/** Endings printed as they happen (the master's trouble_since lists the same). */
const TROUBLE_STATES: ReadonlySet<string> = new Set(["FAILED", "TIMED_OUT", "SLAVE_LOST", "INFRA_FAILED", "NO_RESOURCE"]);

/** Attempts that end without a test result: the infrastructure's loss, not the test's failure. */
const INFRA_STATES: ReadonlySet<string> = new Set(["SLAVE_LOST", "INFRA_FAILED"]);

/**
 * Results are stored in transactions stamped before they commit: one
 * stamped earlier may become visible after a later one was read. Asking
 * again from this far back (and skipping what was printed) misses none.
 */
const OVERLAP_MS = 30_000;

/**
 * Failed attempts printed as they happen, at most: enough for a CI log to
 * show what went wrong early, while a job of 10,000 failing tasks neither
 * floods the log nor makes the watch read (and dt local copy the logs of)
 * every one as it goes. The report at the end lists them all.
 */
export const MAX_LIVE_FAILURES = 100;

/**
 * Tasks asked for per read: twice the cap, since the answer repeats the
 * overlap's tasks already printed (at most the cap of them), so it always
 * holds enough new ones to reach the cap, or is whole.
 */
const TROUBLES_PER_READ = 2 * MAX_LIVE_FAILURES;

/** The links printed for an attempt: stream name → where to read it (the master's link made absolute, or a kept file). */
export type AttemptLinks = (task: TaskView, attempt: AttemptView) => Promise<[string, string][]>;

/**
 * Prints each failed, timed-out or lost attempt once, as the watch sees it
 * happen, with its logs, and whether a retry or a requeue follows. A lost
 * slave or a slave's own failure is named as an infrastructure loss, and
 * counted apart from the test's retries (see `testCounts`).
 *
 * @example
 *   FAILED bad-test (task 3f…a1.2), attempt 0: exit 2, on slave-1; retry 1 of 2 queued
 *     stderr: http://master:8081/api/v1/artifacts/…stderr
 *   INFRASTRUCTURE SLAVE_LOST slow-test (task 3f…a1.5), attempt 0: slave s2 stopped heartbeating; requeued, not one of the test's retries
 */
export class FailureFeed {
  private readonly printed = new Set<string>();
  private readonly infraRequeued = new Set<string>();
  /** failed + retries + requeues when last asked: more means something ended in trouble since. */
  private troubles = 0;
  /** Latest reported_at printed, on the master's clock. */
  private latestMs = 0;
  /** When the master was last asked (client clock), and whether a read is owed since. */
  private lastReadAt: number | undefined;
  private owed = false;
  /** MAX_LIVE_FAILURES were printed: no more reads, the final report has the rest. */
  private full = false;

  constructor(
    private readonly api: MasterClient,
    private readonly jobId: string,
    private readonly links: AttemptLinks,
    private readonly log: Logger,
    /**
     * Least time between two reads: each costs the master a pass over the
     * job's attempts, and a burst of failures is one read this way.
     */
    private readonly minIntervalMs = 0,
  ) {}

  /** Ms until an owed read is due (the watch asks the master again by then), or undefined. */
  dueInMs(nowMs: number): number | undefined {
    if (!this.owed || this.lastReadAt === undefined) return undefined;
    return Math.max(0, this.lastReadAt + this.minIntervalMs - nowMs);
  }

  /**
   * The lines to print for what ended in trouble since the last call, read
   * from the master only when the summary's counts say there is some.
   * A failed read is left for the next change (or the final report).
   */
  async check(summary: JobSummary, nowMs: number, signal?: AbortSignal): Promise<string[]> {
    const c = summary.counts;
    const troubles = c.failed + c.retries + (c.requeues ?? 0);
    if (this.full || troubles <= this.troubles) return [];
    // The final summary is never made to wait: its failures are printed before the report.
    if (summary.status !== "finished" && this.lastReadAt !== undefined && nowMs - this.lastReadAt < this.minIntervalMs) {
      this.owed = true;
      return [];
    }
    this.owed = false;
    this.lastReadAt = nowMs;
    let tasks: TaskView[];
    try {
      ({ tasks } = await this.api.jobTroubles(this.jobId, this.latestMs === 0 ? 0 : this.latestMs - OVERLAP_MS, { attempts: 1, signal, limit: TROUBLES_PER_READ }));
    } catch (err) {
      this.log.debug(`reading the failures of job ${this.jobId} failed (they will be in the final report): ${(err as Error).message}`);
      return [];
    }
    this.troubles = troubles;
    const fresh: { task: TaskView; attempt: AttemptView }[] = [];
    for (const task of tasks) {
      for (const attempt of task.attempts) {
        const key = `${task.task_id}\u0000${attempt.attempt}`;
        if (!TROUBLE_STATES.has(attempt.state) || attempt.reported_at === null || this.printed.has(key)) continue;
        this.printed.add(key);
        fresh.push({ task, attempt });
      }
    }
    fresh.sort((a, b) => a.attempt.reported_at! - b.attempt.reported_at!);
    const lines: string[] = [];
    for (const [i, { task, attempt }] of fresh.entries()) {
      if (this.printed.size - fresh.length + i >= MAX_LIVE_FAILURES) {
        this.full = true;
        lines.push(`(${MAX_LIVE_FAILURES} failed attempts printed as they happened: no more until the report at the end)`);
        break;
      }
      this.latestMs = Math.max(this.latestMs, attempt.reported_at!);
      const next = task.attempts.find((a) => a.attempt === attempt.attempt + 1);
      if (INFRA_STATES.has(attempt.state) && next) this.infraRequeued.add(`${task.task_id}\u0000${attempt.attempt}`);
      lines.push(headline(task, attempt, next));
      for (const [stream, where] of await this.links(task, attempt)) lines.push(`  ${stream}: ${where}`);
    }
    return lines;
  }

  /**
   * The summary's counts with infrastructure requeues apart from the test's
   * retries: as the master gives them when it counts them apart itself
   * (`requeues`), else from the lost attempts this feed has seen.
   */
  testCounts(counts: JobCounts): JobCounts {
    if (counts.requeues !== undefined) return counts;
    const requeues = Math.min(this.infraRequeued.size, counts.retries);
    return { ...counts, retries: counts.retries - requeues, requeues };
  }
}

function headline(task: TaskView, attempt: AttemptView, next: AttemptView | undefined): string {
  const infra = INFRA_STATES.has(attempt.state);
  const what: string[] = [];
  if (attempt.exit_code !== null) what.push(`exit ${attempt.exit_code}`);
  if (attempt.state === "TIMED_OUT" && task.timeout > 0) what.push(`after ${task.timeout} s`);
  if (attempt.message) what.push(printable(attempt.message));
  if (attempt.slave) what.push(`on ${attempt.slave}`);
  let then: string;
  if (infra) then = next ? "requeued, not one of the test's retries" : "not requeued: too many infrastructure losses for this task";
  else if (attempt.state === "NO_RESOURCE") then = "no slave could run it";
  else if (attempt.quarantined) then = "its failing cases are quarantined: not a failure of the job, not retried";
  else if (next) then = `retry ${next.retry} of ${task.max_retries} queued`;
  else then = task.max_retries > 0 ? "no retries left" : "no retries";
  const label = infra ? `INFRASTRUCTURE ${attempt.state}` : attempt.quarantined ? `QUARANTINED ${attempt.state}` : attempt.state;
  return `${label} ${printable(task.description)} (task ${task.task_id}), attempt ${attempt.attempt}: ${what.length > 0 ? `${what.join(", ")}; ` : ""}${then}`;
}
