import type { JobCounts, JobSummary } from "../master/protocol.ts";

/** dist_test's TTY trick: up one line, erase it; the new line then takes its place. */
export const REWRITE_LINE = "\x1b[F\x1b[2K";

const RED = "\x1b[31m";
const GREEN = "\x1b[32m";
const YELLOW = "\x1b[33m";
const RESET = "\x1b[0m";

/**
 * dist_test's progress line, then dt's extras:
 * ` 10.0s\t 3/5 tests complete (1 failed) (1 retries) (1 running, 1 queued)`.
 * Counts are of task groups, retries of attempts.
 */
export function plainLine(counts: JobCounts, elapsedMs: number): string {
  let line = ` ${(elapsedMs / 1000).toFixed(1)}s\t ${counts.finished}/${counts.total_tasks} tests complete`;
  if (counts.failed > 0) line += ` (${counts.failed} failed)`;
  if (counts.retries > 0) line += ` (${counts.retries} retries)`;
  return line + extras(counts);
}

function extras(counts: JobCounts): string {
  let text = "";
  if ((counts.reused ?? 0) > 0) text += ` (${counts.reused} reused)`;
  if ((counts.requeues ?? 0) > 0) text += ` (${counts.requeues} requeued after infrastructure losses)`;
  if (counts.canceled > 0) text += ` (${counts.canceled} canceled)`;
  if (counts.running > 0 || counts.queued > 0) text += ` (${counts.running} running, ${counts.queued} queued${waitingNote(counts)})`;
  return text;
}

/** Waiting tasks are queued ones (protocol.ts JobCounts): said among them, so the counts still add up. */
function waitingNote(counts: JobCounts): string {
  const waiting = counts.waiting ?? 0;
  return waiting > 0 ? `, ${waiting} of them waiting for identical tasks in other jobs` : "";
}

/** The line rewritten in place on a terminal; `color` paints failures red, retries yellow, and the final line. */
export function ttyLine(summary: JobSummary, elapsedMs: number, color: boolean): string {
  const c = summary.counts;
  const paint = (code: string, text: string, when = true) => (color && when ? `${code}${text}${RESET}` : text);
  const parts = [
    `${c.finished}/${c.total_tasks} done`,
    paint(RED, `${c.failed} failed`, c.failed > 0),
    paint(YELLOW, `${c.retries} retried`, c.retries > 0),
  ];
  if ((c.requeues ?? 0) > 0) parts.push(paint(YELLOW, `${c.requeues} requeued (infrastructure)`));
  if (c.canceled > 0) parts.push(paint(RED, `${c.canceled} canceled`));
  if ((c.reused ?? 0) > 0) parts.push(`${c.reused} reused`);
  parts.push(`${c.running} running`, `${c.queued} queued${(c.waiting ?? 0) > 0 ? ` (${c.waiting} waiting for other jobs)` : ""}`, formatDuration(elapsedMs));
  if (summary.status === "running" && summary.estimated_remaining_sec !== null) parts.push(`~${formatDuration(summary.estimated_remaining_sec * 1000)} left`);
  const line = parts.join(", ");
  if (summary.status !== "finished" || !color) return line;
  const passed = c.failed === 0 && c.canceled === 0;
  // The inner colors end with RESET; paint the pieces between them as well.
  return `${passed ? GREEN : RED}${line.replaceAll(RESET, `${RESET}${passed ? GREEN : RED}`)}${RESET}`;
}

/** `42s`, `3m05s`, `1h02m`. */
export function formatDuration(ms: number): string {
  const sec = Math.max(0, Math.round(ms / 1000));
  if (sec < 60) return `${sec}s`;
  if (sec < 3600) return `${Math.floor(sec / 60)}m${String(sec % 60).padStart(2, "0")}s`;
  return `${Math.floor(sec / 3600)}h${String(Math.floor((sec % 3600) / 60)).padStart(2, "0")}m`;
}

export interface ProgressOptions {
  tty: boolean;
  color: boolean;
  /** When the watch began; elapsed time counts from here, as dist_test's did. */
  startMs: number;
  /**
   * Off a terminal, the least time between two progress lines (the final
   * one is never held back). The watch hears of every change at once; a CI
   * log wants no line per lease of a 10,000-task job.
   */
  minIntervalMs?: number;
}

/**
 * Prints a job's progress: on a terminal one line rewritten at every poll;
 * elsewhere (CI logs) a new line only when a count changed.
 */
export class ProgressPrinter {
  private lastKey: string | undefined;
  private lastAt: number | undefined;
  /** A changed line was held back by minIntervalMs. */
  private deferred = false;
  private linesOnScreen = 0;

  constructor(
    private readonly out: NodeJS.WritableStream,
    private readonly options: ProgressOptions,
  ) {}

  update(summary: JobSummary, nowMs: number): void {
    const elapsedMs = nowMs - this.options.startMs;
    if (this.options.tty) {
      this.out.write(`${this.linesOnScreen > 0 ? REWRITE_LINE : ""}${ttyLine(summary, elapsedMs, this.options.color)}\n`);
      this.linesOnScreen = 1;
      return;
    }
    const key = plainLine(summary.counts, 0);
    if (key === this.lastKey) {
      // Back to the line last printed (a lease given back turns running into queued again): nothing is held back any
      // more. Left set, it stayed due at 0 ms with nothing to print, and the watch asked the master every millisecond.
      this.deferred = false;
      return;
    }
    const minIntervalMs = this.options.minIntervalMs ?? 0;
    if (summary.status !== "finished" && this.lastAt !== undefined && nowMs - this.lastAt < minIntervalMs) {
      this.deferred = true;
      return;
    }
    this.deferred = false;
    this.lastKey = key;
    this.lastAt = nowMs;
    this.out.write(`${plainLine(summary.counts, elapsedMs)}\n`);
  }

  /** Ms until a held-back line is due (the watch asks the master again by then), or undefined when none is. */
  dueInMs(nowMs: number): number | undefined {
    if (!this.deferred || this.lastAt === undefined) return undefined;
    return Math.max(0, this.lastAt + (this.options.minIntervalMs ?? 0) - nowMs);
  }

  /** Something else was written below the line; the next update starts a new one. */
  detach(): void {
    this.linesOnScreen = 0;
  }

  /** Lines that stay (a failure as it happens): on a terminal they take the progress line's place, which the next update redraws below them. */
  print(lines: readonly string[]): void {
    if (lines.length === 0) return;
    this.out.write(`${this.options.tty && this.linesOnScreen > 0 ? REWRITE_LINE : ""}${lines.join("\n")}\n`);
    this.linesOnScreen = 0;
    // Off a terminal the progress line after them is printed again, even unchanged, so the log reads in order.
    this.lastKey = undefined;
  }
}
