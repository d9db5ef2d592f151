/**
 * What a finished job comes to, from the master's own answers: the
 * makespan (POST to the last report), the case-level lower bound from the
 * durations the job's cases reported, the shards its dominant binary ran
 * as, and for the flaky job what its retry cost. Pure, so the figures'
 * arithmetic is tested without a cluster.
 */
import type { AttemptView, JobCaseView, TaskView } from "../../src/master/protocol.ts";
import { caseLowerBoundMs } from "./workload.ts";

/** What the figures are taken from: a finished job's times, tasks and cases (jobs.ts FinishedJob). */
export interface JobRecord {
  postedAt: number;
  observedMs: number;
  tasks: readonly TaskView[];
  cases: readonly JobCaseView[];
}

/**
 * How far the two makespans may differ before the bench distrusts them: the
 * long-poll answers within ms of the last report, so seconds mean the wall
 * clock (the attempts' timestamps) stepped during the job.
 */
export const CLOCK_TOLERANCE_MS = 2_000;

export interface MakespanFigures {
  /** POST to finished, on the bench's monotonic clock. */
  makespanMs: number;
  /** POST to the last report, on the wall clock (the master's timestamps): within CLOCK_TOLERANCE_MS of makespanMs unless the clock moved. */
  reportedSpanMs: number;
  lowerBoundMs: number;
  /** makespan ÷ lower bound. */
  ratio: number;
  longestCaseMs: number;
  caseSumMs: number;
  /** Tasks the dominant binary ran as (1 unsharded). */
  shards: number;
  /** The longest command among them: the makespan minus this is what queueing and dt added. */
  longestShardMs: number;
}

/** Every attempt of the job, in no particular order. */
const attemptsOf = (tasks: readonly TaskView[]): AttemptView[] => tasks.flatMap((t) => t.attempts);

/** The task's binary: the master's field, or the description without a shard suffix on masters that lack it. */
export const binaryOf = (t: TaskView): string => t.binary ?? t.description.replace(/\.\d+$/, "");

/**
 * The job's makespan, POST to finished as the bench saw it (and, to check
 * it, `postedAt` to the last report on the wall clock), against
 * max(longest case, Σ case durations ÷ slots) from the cases it reported.
 * Throws when a case has no duration or an attempt was never reported:
 * then there is no figure to give.
 */
export function makespanFigures(job: JobRecord, dominantBinary: string, slots: number): MakespanFigures {
  const reported = attemptsOf(job.tasks).map((a) => a.reported_at);
  if (reported.length === 0 || reported.some((r) => r === null)) throw new Error("makespanFigures: an attempt of the job was never reported");
  const durations = job.cases.map((c) => {
    if (c.duration_ms === null) throw new Error(`makespanFigures: case ${c.binary} ${c.suite}.${c.name} reported no duration`);
    return c.duration_ms;
  });
  const makespanMs = job.observedMs;
  const dominant = job.tasks.filter((t) => binaryOf(t) === dominantBinary);
  const lowerBoundMs = caseLowerBoundMs(durations, slots);
  return {
    makespanMs,
    reportedSpanMs: Math.max(...(reported as number[])) - job.postedAt,
    lowerBoundMs,
    ratio: makespanMs / lowerBoundMs,
    longestCaseMs: Math.max(0, ...durations),
    caseSumMs: durations.reduce((a, b) => a + b, 0),
    shards: dominant.length,
    longestShardMs: Math.max(0, ...dominant.flatMap((t) => t.attempts).map((a) => (a.command_end_at ?? 0) - (a.command_start_at ?? 0))),
  };
}

/**
 * What is wrong with the cases of `binary` in the job, if anything: every
 * case of `expected` must appear exactly once, have run exactly once (no
 * shard ran it twice, none missed it) and passed. Empty when all is well.
 */
export function caseCoverageProblems(cases: readonly JobCaseView[], binary: string, expected: readonly string[]): string[] {
  const seen = new Map<string, JobCaseView>();
  const problems: string[] = [];
  for (const c of cases.filter((x) => x.binary === binary)) {
    const id = `${c.suite}.${c.name}`;
    if (seen.has(id)) problems.push(`${id} listed twice`);
    seen.set(id, c);
    if (!expected.includes(id)) problems.push(`${id} is not a case of ${binary}`);
    else if (c.runs !== 1) problems.push(`${id} ran ${c.runs} times`);
    else if (c.status !== "passed") problems.push(`${id} ${c.status}`);
  }
  const missing = expected.filter((id) => !seen.has(id));
  if (missing.length > 0) problems.push(`${missing.length} of ${expected.length} cases of ${binary} never ran (${missing.slice(0, 3).join(", ")}${missing.length > 3 ? ", …" : ""})`);
  return problems;
}

export interface RetryFigures {
  /** The retry attempt's command, start to end (the slave's clock). */
  retryCommandMs: number;
  /** The retry attempt's lease to its report: what a slot spent on it. */
  retryLeaseToReportMs: number;
  /** The retry's own overhead: lease to report minus its command. */
  retryOverheadMs: number;
  /** From the first attempt's report to the retry's: what the retry added to the job. */
  retryAddedMs: number;
  /** Case runs in the retry: 1 when only the flaky case ran again, every case for a whole-task retry. */
  retryCaseRuns: number;
  /** The flaky case's own duration, as the job reports it (the run that passed). */
  flakyCaseMs: number;
  /** POST to finished, on the bench's monotonic clock. */
  makespanMs: number;
  /** POST to the last report, on the wall clock: a check of makespanMs (CLOCK_TOLERANCE_MS). */
  reportedSpanMs: number;
}

/**
 * The retry of the job's one flaky task: its timestamps against the first
 * attempt's, and how many case runs it added (Σ runs over the binary's
 * cases minus their count: each ran once in the first attempt). Throws
 * unless exactly one task was retried exactly once and the flaky case is
 * reported flaky.
 */
export function retryFigures(job: JobRecord, flakyCase: string): RetryFigures {
  const retried = job.tasks.filter((t) => t.attempts.length > 1);
  if (retried.length !== 1 || retried[0]!.attempts.length !== 2) {
    throw new Error(`retryFigures: expected one task with two attempts, got ${job.tasks.map((t) => `${t.description}: ${t.attempts.map((a) => a.state).join(",")}`).join("; ")}`);
  }
  const [first, retry] = [...retried[0]!.attempts].sort((a, b) => a.attempt - b.attempt) as [AttemptView, AttemptView];
  const need = (a: AttemptView, field: "leased_at" | "command_start_at" | "command_end_at" | "reported_at"): number => {
    const v = a[field];
    if (v === null) throw new Error(`retryFigures: attempt ${a.attempt} (${a.state}) has no ${field}`);
    return v;
  };
  const binary = binaryOf(retried[0]!);
  const cases = job.cases.filter((c) => c.binary === binary);
  const flaky = cases.find((c) => `${c.suite}.${c.name}` === flakyCase);
  if (!flaky || flaky.status !== "flaky" || flaky.duration_ms === null) throw new Error(`retryFigures: ${flakyCase} is ${flaky ? `${flaky.status} (${flaky.duration_ms} ms)` : "not among the job's cases"}, not flaky with a duration`);
  const retryCommandMs = need(retry, "command_end_at") - need(retry, "command_start_at");
  const retryLeaseToReportMs = need(retry, "reported_at") - need(retry, "leased_at");
  const reported = attemptsOf(job.tasks).map((a) => need(a, "reported_at"));
  return {
    retryCommandMs,
    retryLeaseToReportMs,
    retryOverheadMs: retryLeaseToReportMs - retryCommandMs,
    retryAddedMs: need(retry, "reported_at") - need(first, "reported_at"),
    retryCaseRuns: cases.reduce((sum, c) => sum + c.runs, 0) - cases.length,
    flakyCaseMs: flaky.duration_ms,
    makespanMs: job.observedMs,
    reportedSpanMs: Math.max(...reported) - job.postedAt,
  };
}

/** Why the two makespans of a job disagree, or null when they agree within CLOCK_TOLERANCE_MS. */
export function clockProblem(f: { makespanMs: number; reportedSpanMs: number }): string | null {
  const gap = f.makespanMs - f.reportedSpanMs;
  if (Math.abs(gap) <= CLOCK_TOLERANCE_MS) return null;
  return `POST → finished took ${(f.makespanMs / 1000).toFixed(2)} s on the monotonic clock but POST → last report ${(f.reportedSpanMs / 1000).toFixed(2)} s on the wall clock: the wall clock moved during the job, so its attempts' spans are not to be trusted`;
}

/**
 * dt's per-task overhead in the attempts that ran once: lease to report
 * minus the command, one value per attempt (the cluster bench's measure).
 */
export function overheadsMs(tasks: readonly TaskView[]): number[] {
  return tasks
    .filter((t) => t.attempts.length === 1)
    .map((t) => t.attempts[0]!)
    .filter((a) => a.leased_at !== null && a.reported_at !== null && a.command_start_at !== null && a.command_end_at !== null)
    .map((a) => a.reported_at! - a.leased_at! - (a.command_end_at! - a.command_start_at!));
}
