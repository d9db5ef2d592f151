/**
 * The quarantine's effect on one attempt, decided when it is reported and
 * stored with it: which of its failed runs were quarantined (shown apart on
 * the job's cases and page), and whether the attempt as a whole is (its
 * group then ends "quarantined", finished and not failed, and it is not
 * retried). Stored once, so removing or expiring an entry later does not
 * change a past job's verdict.
 */
import type { CaseResult } from "../../results/model.ts";
import { caseKeyer } from "../cases/case-key.ts";
import type { CaseAttempt } from "../cases/case-store.ts";
import type { AttemptState } from "../model.ts";
import type { Repo } from "../repo/repo.ts";
import type { QuarantinedCaseRow } from "../repo/schema-sqlite.ts";
import { entryFor } from "./entry.ts";

/**
 * Active entries one report reads at most. An operator's list is tens of
 * entries; 10,000 leaves room for an auto-quarantine gone wild while a
 * report still reads them in a few ms.
 */
export const MAX_ACTIVE_ENTRIES = 10_000;

const isFailure = (c: CaseResult) => c.status === "failed" || c.status === "crashed";

/** What the quarantine made of one reported attempt. */
export interface QuarantineVerdict {
  /** The attempt fails nothing: Attempt.quarantined. */
  quarantined: boolean;
  /**
   * One of its quarantined failures is a crash, or the attempt timed out:
   * the binary died in it (or hung), so the cases after it never ran, and a
   * retry is still wanted for them (the retry filter leaves the
   * quarantined case out of it).
   */
  crashed: boolean;
}

const NOTHING: QuarantineVerdict = { quarantined: false, crashed: false };

/**
 * Records the attempt's quarantined failures and says whether the whole
 * attempt is quarantined: it FAILED or TIMED_OUT, reported at least one
 * failed or crashed case, and every one of them was quarantined at
 * `at.reportedAt`. A failure with no failing case (a crash before any case,
 * a non-zero exit after all passed) is never quarantined: dt cannot tell
 * it is the quarantined test's. Call inside the transaction that ends the
 * attempt; reads nothing for a report without failures.
 */
export async function applyQuarantine(repo: Repo, at: CaseAttempt, state: AttemptState, cases: readonly CaseResult[]): Promise<QuarantineVerdict> {
  const failures = cases.filter(isFailure);
  if (failures.length === 0) return NOTHING;
  const entries = await repo.listQuarantine({ activeAt: at.reportedAt, limit: MAX_ACTIVE_ENTRIES });
  if (entries.length === 0) return NOTHING;
  const keyOf = caseKeyer(at.binary);
  const rows = new Map<string, QuarantinedCaseRow>();
  let all = true;
  let crashed = false;
  for (const c of failures) {
    const entry = entryFor(entries, at.binary, c.suite, c.name);
    if (!entry) {
      all = false;
      continue;
    }
    if (c.status === "crashed") crashed = true;
    const caseKey = keyOf(c.suite, c.name);
    rows.set(caseKey, { jobId: at.jobId, taskId: at.taskId, attempt: at.attempt, caseKey, quarantineId: entry.id });
  }
  if (rows.size > 0) await repo.recordQuarantinedCases([...rows.values()]);
  const quarantined = all && (state === "FAILED" || state === "TIMED_OUT");
  if (quarantined) await repo.updateAttempt(at.jobId, at.taskId, at.attempt, { quarantined: true });
  // A timeout, like a crash, may have kept cases from running (a hang outside any case reports none crashed): they still want a retry.
  return { quarantined, crashed: quarantined && (crashed || state === "TIMED_OUT") };
}
