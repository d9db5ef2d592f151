/**
 * Reuse at submit (docs/reuse.md): each idempotent task whose key has a
 * young enough SUCCEEDED first attempt takes that result now; one whose key
 * runs now in another job waits for it. The rest run.
 */
import { type Attempt, type ReusedResultFields, type ReuseOrigin, type Task, taskBinary } from "../model.ts";
import type { Repo } from "../repo/repo.ts";
import type { InFlight } from "./in-flight.ts";
import type { CaseLink } from "./linked-cases.ts";

/** `dt master --reuse-max-age`'s default: a week, as long as a CI system keeps a branch's runs worth re-running. */
export const DEFAULT_REUSE_MAX_AGE_MS = 7 * 86_400_000;

export interface ReusePlan {
  /** The job's first attempts: reused ones SUCCEEDED, waiting ones QUEUED with reusedFrom, the rest as given. */
  attempts: Attempt[];
  /** The reused tasks' cases, for Repo.linkReusedCases. */
  links: CaseLink[];
  /** Idempotent tasks that found a result, that found none (and run or wait), and that wait for a run in flight. */
  hits: number;
  misses: number;
  waiting: number;
}

/**
 * What an attempt that takes `origin`'s result becomes: SUCCEEDED at `now`
 * with its exit code, logs, archive and outputs, never leased, timed as not
 * run (no command times: it feeds no duration history and no pace).
 */
export function reusedFields(origin: ReusedResultFields, savedMs: number, inFlight: boolean, now: number): Pick<Attempt, "state" | "exitCode" | "stdoutKey" | "stderrKey" | "artifactKey" | "artifactMissing" | "outputsRef" | "message" | "reportedAt" | "reusedFrom"> {
  const reusedFrom: ReuseOrigin = { jobId: origin.jobId, taskId: origin.taskId, attempt: origin.attempt, savedMs, inFlight };
  return {
    state: "SUCCEEDED", exitCode: origin.exitCode, stdoutKey: origin.stdoutKey, stderrKey: origin.stderrKey, artifactKey: origin.artifactKey,
    artifactMissing: origin.artifactMissing, outputsRef: origin.outputsRef, message: null, reportedAt: now, reusedFrom,
  };
}

/**
 * The plan for a job's first attempts. `reuse` is the job's field (false:
 * nothing is reused, nothing waits); `maxAgeMs` 0 turns reuse off.
 */
export async function planReuse(repo: Pick<Repo, "findReusable">, inFlight: InFlight, input: { jobId: string; tasks: readonly Task[]; attempts: readonly Attempt[]; reuse: boolean | null; maxAgeMs: number; now: number }): Promise<ReusePlan> {
  const plan: ReusePlan = { attempts: [...input.attempts], links: [], hits: 0, misses: 0, waiting: 0 };
  if (input.reuse === false || input.maxAgeMs <= 0) return plan;
  const keyed = input.tasks.filter((t) => t.idempotent && t.taskKey !== null);
  if (keyed.length === 0) return plan;
  const found = await repo.findReusable(keyed.map((t) => t.taskKey!), input.now - input.maxAgeMs);
  for (const task of keyed) {
    const i = task.index;
    const hit = found.get(task.taskKey!);
    if (hit) {
      plan.attempts[i] = { ...plan.attempts[i]!, ...reusedFields(hit.origin, hit.savedMs, false, input.now) };
      plan.links.push({ taskId: task.taskId, attempt: 0, binary: taskBinary(task), origin: { jobId: hit.origin.jobId, taskId: hit.origin.taskId, attempt: hit.origin.attempt } });
      plan.hits++;
      continue;
    }
    plan.misses++;
    const leader = inFlight.leaderFor(task.taskKey!, input.jobId);
    if (leader) {
      plan.attempts[i] = { ...plan.attempts[i]!, reusedFrom: { ...leader, savedMs: 0, inFlight: true } };
      plan.waiting++;
    }
  }
  return plan;
}
