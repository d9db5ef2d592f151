import type { JobCaseView } from "../protocol.ts";
import type { Repo } from "../repo/repo.ts";
import type { JobCaseRow } from "../repo/schema-sqlite.ts";

/**
 * Marks the failed and crashed ones of a page of a job's cases (`views[i]`
 * is `rows[i]`'s) whose failure was quarantined when reported, with the
 * entry's reason: one indexed read per page, none for a page without
 * failures.
 */
export async function markQuarantined(repo: Repo, jobId: string, rows: readonly JobCaseRow[], views: JobCaseView[]): Promise<void> {
  const failing = rows.flatMap((r, i) => (r.status === "failed" || r.status === "crashed" ? [i] : []));
  if (failing.length === 0) return;
  const entries = await repo.jobQuarantines(jobId, failing.map((i) => rows[i]!.caseKey));
  for (const i of failing) {
    const e = entries.get(rows[i]!.caseKey);
    if (e) views[i]!.quarantined = { id: e.id, reason: e.reason, until: e.until };
  }
}
