import type { JobCaseView } from "../protocol.ts";
import type { Repo } from "../repo/repo.ts";
import type { JobCaseRow } from "../repo/schema-sqlite.ts";

/**
 * Marks the failed and crashed ones of a page of a job's cases (`views[i]`
 * is `rows[i]`'s) whose failure was quarantined when reported, with the
 * entry's reason: one indexed read per page, none for a page without
 * failures. The run that decided the case's status (its row's task and
 * attempt) is the one asked about: an earlier attempt's quarantined failure
 * does not cover a later one after the entry ended, which failed the job.
 */
export async function markQuarantined(repo: Repo, jobId: string, rows: readonly JobCaseRow[], views: JobCaseView[]): Promise<void> {
  const failing = rows.flatMap((r, i) => (r.status === "failed" || r.status === "crashed" ? [i] : []));
  if (failing.length === 0) return;
  const entries = await repo.jobQuarantines(jobId, failing.map((i) => ({ caseKey: rows[i]!.caseKey, taskId: rows[i]!.taskId, attempt: rows[i]!.attempt })));
  for (const i of failing) {
    const e = entries.get(rows[i]!.caseKey);
    if (e) views[i]!.quarantined = { id: e.id, reason: e.reason, until: e.until };
  }
}
