/**
 * `dt master --auto-quarantine RATE`: when a report leaves cases of a job
 * flaky, each one's flake rate over its recent history is computed, and a
 * case at or above RATE is quarantined by the master itself, with a reason
 * naming the rate and the runs, and an expiry.
 *
 * The flake rate is the one GET tests/history gives: of the case's task runs
 * (one task of one job, its attempts merged) in the window, the share that
 * merged to flaky (failed, then passed in a retry or a runner's rerun). A
 * case that always fails is broken, not flaky, and is never quarantined so.
 */
import type { SerialLock } from "../../common/concurrency.ts";
import { DtError } from "../../common/errors.ts";
import type { CaseResult } from "../../results/model.ts";
import { caseKeyer } from "../cases/case-key.ts";
import { taskFlakeRate } from "../cases/case-merge.ts";
import type { CaseAttempt } from "../cases/case-store.ts";
import { AUTO_QUARANTINE_USER, entryFor } from "./entry.ts";
import { type QuarantineDeps, testName } from "./quarantine.ts";
import { MAX_ACTIVE_ENTRIES } from "./verdict.ts";

const DAY_MS = 86_400_000;

export interface AutoQuarantineConfig {
  /** Quarantine at this flake rate or above, 0 < rate ≤ 1. */
  rate: number;
  /** How long an automatic entry lasts (ms): it must end by itself, so a fixed test comes back. Default 7 days. */
  expiryMs: number;
  /** The history looked at (ms back from the report): 7 days, a week of a project's builds. */
  windowMs: number;
  /** Fewer task runs in the window than this decide nothing: 1 flaky run of 2 is 50%, and chance. Default 5. */
  minRuns: number;
}

export const AUTO_QUARANTINE_DEFAULTS = { expiryMs: 7 * DAY_MS, windowMs: 7 * DAY_MS, minRuns: 5 } as const;

/** Runs of one case read back at most: 1,000 task runs is a busy week of a case run per commit. */
const HISTORY_RUNS = 1_000;
/** Flaky cases of one report looked at: a report that turns hundreds flaky is an infrastructure problem, not hundreds of flaky tests. */
const MAX_CANDIDATES = 50;

/**
 * After an attempt's cases are stored: quarantines those of them that are
 * flaky in the job and whose flake rate is at or above the configured rate.
 * Returns the entries it added. Never throws: a failure here is logged and
 * the report stands.
 */
export async function autoQuarantine(deps: QuarantineDeps, config: AutoQuarantineConfig, at: CaseAttempt, cases: readonly CaseResult[], lock?: SerialLock): Promise<number[]> {
  try {
    const keyOf = caseKeyer(at.binary);
    // A case turns flaky in a job only by a pass after a failure: in a later attempt of its task, or after the runner's own failed reruns.
    // A first attempt's plain passes cannot, so most reports cost nothing here.
    const passed = new Set(cases.filter((c) => c.status === "passed" && (at.attempt > 0 || (c.flakyFailures ?? 0) > 0)).map((c) => keyOf(c.suite, c.name)));
    if (passed.size === 0) return [];
    // From reading the active entries to adding one, one report at a time (`lock`): concurrent ones would each add the case.
    return await (lock ? lock.run(() => quarantineFlaky(deps, config, at, passed)) : quarantineFlaky(deps, config, at, passed));
  } catch (err) {
    deps.log.error(`auto-quarantine after attempt ${at.attempt} of ${at.taskId} in job ${at.jobId} failed; the report stands:`, err);
    return [];
  }
}

/** The job's cases flaky in it and passed in this report (`passed`, by case key) whose flake rate is at or above the rate, quarantined. */
async function quarantineFlaky(deps: QuarantineDeps, config: AutoQuarantineConfig, at: CaseAttempt, passed: ReadonlySet<string>): Promise<number[]> {
  const flaky = (await deps.repo.listJobCases(at.jobId, { statuses: ["flaky"], limit: 10_000 })).filter((c) => passed.has(c.caseKey)).slice(0, MAX_CANDIDATES);
  if (flaky.length === 0) return [];
  const now = at.reportedAt;
  const active = await deps.repo.listQuarantine({ activeAt: now, limit: MAX_ACTIVE_ENTRIES });
  const added: number[] = [];
  for (const c of flaky) {
    if (entryFor(active, c.binary, c.suite, c.name)) continue;
    const history = (await deps.repo.caseHistory(c.caseKey, HISTORY_RUNS)).filter((r) => r.reportedAt >= now - config.windowMs);
    const found = taskFlakeRate(history);
    if (!found || found.taskRuns < config.minRuns || found.rate < config.rate) continue;
    const days = Math.round(config.windowMs / DAY_MS);
    const reason = `flake rate ${(found.rate * 100).toFixed(0)}% (${found.flaky} of ${found.taskRuns} runs flaky in the last ${days} days) ≥ ${(config.rate * 100).toFixed(0)}%: quarantined by the master (--auto-quarantine)`;
    const entry = await deps.repo.addQuarantine({ binary: c.binary, suite: c.suite, name: c.name, reason, createdAt: now, createdBy: AUTO_QUARANTINE_USER, until: now + config.expiryMs });
    added.push(entry.id);
    deps.log.info(`auto-quarantine: entry ${entry.id}: ${testName(entry)} until ${new Date(entry.until!).toISOString()}: ${reason}`, { quarantine_id: entry.id, job_id: at.jobId });
  }
  return added;
}

/**
 * The master's flags read into a config, or undefined when --auto-quarantine
 * is not given (off by default).
 *
 * @example autoQuarantineConfig("0.3", "7", "5") // { rate: 0.3, expiryMs: 604800000, windowMs: 604800000, minRuns: 5 }
 */
export function autoQuarantineConfig(rate: string | undefined, days: string, minRuns: string): AutoQuarantineConfig | undefined {
  if (rate === undefined) return undefined;
  const r = Number(rate);
  if (rate.trim() === "" || !Number.isFinite(r) || r <= 0 || r > 1) throw new DtError("invalid_input", `--auto-quarantine ${JSON.stringify(rate)}: must be a flake rate above 0 and at most 1 (e.g. 0.2 for 20%)`);
  const d = Number(days);
  if (days.trim() === "" || !Number.isFinite(d) || d <= 0 || d > 365) throw new DtError("invalid_input", `--auto-quarantine-days ${JSON.stringify(days)}: must be a number of days above 0 and at most 365`);
  const n = Number(minRuns);
  if (!/^\d+$/.test(minRuns) || n < 1 || n > HISTORY_RUNS) throw new DtError("invalid_input", `--auto-quarantine-min-runs ${JSON.stringify(minRuns)}: must be an integer from 1 to ${HISTORY_RUNS}`);
  return { rate: r, expiryMs: Math.round(d * DAY_MS), windowMs: AUTO_QUARANTINE_DEFAULTS.windowMs, minRuns: n };
}
