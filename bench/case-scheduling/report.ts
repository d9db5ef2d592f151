/**
 * The case-scheduling bench's tables: each sharding mode's makespan against
 * the case-level lower bound, then each retry mode's cost against the
 * flaky case's own time plus dt's per-task overhead. Medians of the runs
 * with min–max; a mode the master refused reads "not available" with why.
 */
import { formatSummary } from "../cluster/report.ts";
import type { Samples } from "../cluster/samples.ts";
import { markdownTable, summarize } from "../isolate/report.ts";
import { MODES, RETRY_MODES, type Skipped, SETUP } from "./measure.ts";

/** The issue's target for auto shards with history: makespan ÷ case-level lower bound. */
export const AUTO_TARGET_RATIO = 1.15;
/**
 * What "the case's time plus dt's overhead" allows a case retry, as a
 * ratio: the retry also starts the gtest process and reads its output,
 * which neither the case's duration nor the overhead of other tasks holds.
 */
export const CASE_RETRY_TARGET_RATIO = 1.5;

const label = (skip: { refused: boolean } | undefined) => (skip === undefined ? "not run" : skip.refused ? "not available (below)" : "failed (below)");

export function resultTables(samples: Samples, skipped: Skipped, runsDone: number): string {
  const s = (name: string) => summarize(samples.get(name));
  const has = (name: string) => samples.get(name).length > 0;
  const counts = (name: string) => [...new Set(samples.get(name))].sort((a, b) => a - b).join(", ") || "n/a";
  const met = (ok: boolean) => (ok ? "yes" : "**no**");
  const slots = SETUP.slaves * SETUP.slotsPerSlave;
  const noneMakespan = s("makespan none").median;

  const modeRows = MODES.map((m) => {
    if (!has(`makespan ${m.key}`)) return [m.label, label(skipped.get(m.key)), "", "", "", "", "", "", ""];
    const ratio = s(`ratio ${m.key}`);
    const target = m.key === "auto2" ? `≤ ${AUTO_TARGET_RATIO}` : "—";
    return [
      m.label, counts(`shards ${m.key}`), formatSummary(s(`longest shard ${m.key}`), "s"), formatSummary(s(`makespan ${m.key}`), "s"), formatSummary(s(`bound ${m.key}`), "s"), formatSummary(ratio, "ratio"),
      Number.isFinite(noneMakespan) ? (s(`makespan ${m.key}`).median / noneMakespan).toFixed(2) : "—",
      target, m.key === "auto2" ? met(ratio.median <= AUTO_TARGET_RATIO) : "—",
    ];
  });
  const makespan = markdownTable(
    ["mode (longtail_test beside 3 short binaries)", "longtail tasks", "longest longtail task (command)", "makespan, POST → finished", `case lower bound max(longest, Σ ÷ ${slots})`, "makespan ÷ bound", "makespan ÷ unsharded", "target", "met?"],
    modeRows,
  );

  const retryRows = RETRY_MODES.map((m) => {
    if (!has(`retry added ${m.key}`)) return [m.label, label(skipped.get(`retry ${m.key}`)), "", "", "", "", "", "", "", ""];
    const ratio = s(`retry ratio ${m.key}`);
    return [
      m.label, counts(`retry case runs ${m.key}`), formatSummary(s(`retry command ${m.key}`), "s"), formatSummary(s(`retry lease→report ${m.key}`), "s"),
      formatSummary(s(`retry added ${m.key}`), "s"), formatSummary(s(`retry makespan ${m.key}`), "s"), formatSummary(s(`retry target ${m.key}`), "s"),
      formatSummary(ratio, "ratio"), m.key === "cases" ? `≤ ${CASE_RETRY_TARGET_RATIO}` : "—", m.key === "cases" ? met(ratio.median <= CASE_RETRY_TARGET_RATIO) : "—",
    ];
  });
  const retry = markdownTable(
    ["retry of flaky_60s (1 flaky case, max_retries 1)", "case runs in the retry", "retry's command", "retry's lease → report", "retry adds to the job (1st report → 2nd)", "job makespan", "flaky case + per-task overhead", "adds ÷ that", "target", "met?"],
    retryRows,
  );

  const notes = [
    `Medians of ${runsDone} run(s); min–max over runs in parentheses. makespan ÷ bound and adds ÷ that are the median of each run's own ratio.`,
    `The bound is each job's own: from the duration_ms of its cases (GET /api/v1/jobs/:id/cases), Σ ${formatSummary(s("case sum none"), "s")} and longest ${formatSummary(s("longest case none"), "s")} in the unsharded job; ${slots} slots (${SETUP.slaves} slaves × ${SETUP.slotsPerSlave}).`,
    `flaky case (Flaky60s.FailsOnFirstAttempt, the passing run): ${formatSummary(s("flaky case"), "ms")}; dt's per-task overhead (lease → report minus the command, median over the run's attempts that ran once): ${formatSummary(s("overhead"), "ms")}.`,
    ...[...skipped].map(([key, { why }]) => `${key}: ${why}`),
  ];
  // Both retry modes re-running every case: this build retries whole tasks whatever the task says.
  const allCases = Math.min(...samples.get("retry case runs cases"));
  if (Number.isFinite(allCases) && allCases > 1) notes.push(`the default retry re-ran ${allCases} cases, not only the failed one: this build has no case-level retry yet.`);
  return `${makespan}\n\n${retry}\n\n${notes.map((n) => `- ${n}`).join("\n")}`;
}
