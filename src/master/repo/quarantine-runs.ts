/** What both dialects' jobQuarantines make of the quarantined_cases rows they read (see Repo.jobQuarantines). */
import type { QuarantineEntry } from "../quarantine/entry.ts";
import type { CaseRunKey } from "./repo.ts";

const runKey = (r: CaseRunKey) => `${r.caseKey}\0${r.taskId}\0${r.attempt}`;

/**
 * The rows' entries for the asked runs only, by case key. The rows are read
 * by case key (indexed); another attempt's row of the same case says
 * nothing of this run: its quarantine may have ended before this run failed.
 */
export function runsQuarantined(rows: readonly (CaseRunKey & { entry: QuarantineEntry })[], runs: readonly CaseRunKey[]): Map<string, QuarantineEntry> {
  const asked = new Set(runs.map(runKey));
  const found = new Map<string, QuarantineEntry>();
  for (const r of rows) if (asked.has(runKey(r))) found.set(r.caseKey, r.entry);
  return found;
}
