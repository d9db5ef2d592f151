import type { Clock } from "../common/clock.ts";
import { isDtError } from "../common/errors.ts";
import type { Logger } from "../common/log.ts";
import type { JobSummary } from "../master/protocol.ts";
import type { MasterClient } from "./api.ts";
import type { FailureFeed } from "./failures.ts";
import { formatDuration, type ProgressPrinter } from "./progress.ts";

/** How the watch loop waits out a master that stopped answering. */
export interface WatchBackoff {
  /** Longest wait between polls after failures. */
  maxDelayMs: number;
  /** Consecutive failed polls after which the watch gives up. */
  maxFailures: number;
}

/**
 * Doubling from the poll interval up to 30 s, for 10 failures in a row: about
 * two and a half minutes, long enough for a master restart, while a steady
 * 1 s poll would hammer a master that is struggling (dist_test slowed its poll
 * tenfold for that reason).
 */
export const DEFAULT_WATCH_BACKOFF: WatchBackoff = { maxDelayMs: 30_000, maxFailures: 10 };

/** Default poll interval: dist_test's was 5 s, but dt's job view is one cheap aggregate query. */
export const DEFAULT_POLL_MS = 1_000;

export interface WatchOptions {
  api: MasterClient;
  jobId: string;
  clock: Clock;
  sleep: (ms: number, signal?: AbortSignal) => Promise<void>;
  /** Aborted by Ctrl-C: the watch returns "interrupted"; the job goes on. */
  signal: AbortSignal;
  pollMs: number;
  /**
   * How long the master may hold a status request waiting for a change
   * (see MasterClient.jobSummary); a master without the long-poll is polled
   * every `pollMs` instead.
   */
  holdMs: number;
  progress: ProgressPrinter;
  /** Prints failures as they happen, and counts infrastructure requeues apart; none: counts as the master gives them. */
  failures?: FailureFeed;
  log: Logger;
  backoff?: WatchBackoff;
}

export type WatchResult = { kind: "finished"; summary: JobSummary } | { kind: "interrupted"; summary: JobSummary | undefined };

/**
 * Off a terminal nothing is printed until something changes, so the master
 * may hold the request long (it caps the hold itself, at 25 s by default).
 */
export const DEFAULT_HOLD_MS = 25_000;

/**
 * After an answer that brought a change, the watch waits this long per task
 * of the job before asking again (at most the poll interval): a busy job
 * changes with every lease and result, and each new version costs the
 * master a read of all the job's attempts. 0.01 ms per task keeps a watcher
 * to about one such read per second on a 100,000-task job (as the 1 s poll
 * did), while a job of up to 5,000 tasks is followed within 50 ms.
 */
export const CHANGE_GAP_PER_TASK_MS = 0.01;

/**
 * Follows GET /api/v1/jobs/:job until the job is finished, printing
 * progress. Each request after the first names the change_version it has,
 * and the master answers as soon as the job changed; a master that does not
 * know the long-poll (no change_version) or answered at once unchanged (its
 * cap on held requests was reached) is polled every `pollMs`. A job that does
 * not exist fails at once (not_found); an unreachable master is polled again
 * with backoff.
 */
export async function watchJob(options: WatchOptions): Promise<WatchResult> {
  const { api, jobId, clock, sleep, signal, pollMs, holdMs, progress, failures, log } = options;
  const backoff = options.backoff ?? DEFAULT_WATCH_BACKOFF;
  let last: JobSummary | undefined;
  /** Polls that failed in a row. */
  let failed = 0;
  while (!signal.aborted) {
    let summary: JobSummary;
    const version = last?.change_version;
    const askedAt = clock.now();
    // A progress line or a read of failures held back is due before the hold would end: ask again by then.
    const dues = [progress.dueInMs(askedAt), failures?.dueInMs(askedAt)].filter((d) => d !== undefined);
    const due = dues.length > 0 ? Math.min(...dues) : undefined;
    const hold = due === undefined ? holdMs : Math.min(holdMs, Math.max(1, due));
    try {
      summary = await api.jobSummary(jobId, { attempts: 1, signal, wait: version === undefined ? undefined : { version, ms: hold } });
    } catch (err) {
      if (signal.aborted) break;
      if (!isDtError(err, "unreachable")) throw err;
      failed++;
      if (failed >= backoff.maxFailures) throw err;
      const delayMs = Math.min(pollMs * 2 ** failed, backoff.maxDelayMs);
      progress.detach();
      log.warn(`${err.message}; polling again in ${formatDuration(delayMs)} (${failed} of ${backoff.maxFailures} tries failed)`);
      await sleep(delayMs, signal);
      continue;
    }
    failed = 0;
    last = summary;
    if (failures) {
      progress.print(await failures.check(summary, clock.now(), signal));
      progress.update({ ...summary, counts: failures.testCounts(summary.counts) }, clock.now());
    } else {
      progress.update(summary, clock.now());
    }
    if (summary.status === "finished") return { kind: "finished", summary };
    // A change, or a hold served in full: ask again at once. An answer unchanged and early (a master
    // without the long-poll, or at its cap of held requests): wait out the rest of the poll interval.
    const changed = summary.change_version !== undefined && summary.change_version !== version;
    const interval = summary.change_version === undefined ? pollMs : Math.min(pollMs, hold);
    const gap = Math.min(pollMs, summary.counts.total_tasks * CHANGE_GAP_PER_TASK_MS);
    const rest = changed ? gap : interval - (clock.now() - askedAt);
    if (rest >= 1) await sleep(rest, signal);
  }
  return { kind: "interrupted", summary: last };
}
