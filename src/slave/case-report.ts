/**
 * The test cases in a slave's result report, and what they add to the
 * attempt's message. The cases never change the attempt's state (the exit
 * code decides, as in dist_test) and trouble reading them is a note: a parse
 * problem is never an infrastructure failure, nor held against the slave.
 */
import type { RunResults } from "../isolate/run/attempt-results.ts";
import type { ReportedState } from "../master/model.ts";
import { type CaseReport, MAX_REPORTED_CASES, MAX_RESULT_NOTE_CHARS, MAX_RESULT_NOTES, type ResultReport } from "../master/protocol.ts";
import { wireText } from "../results/to-wire.ts";

/**
 * Bytes of cases one report carries, as JSON. The master reads a result body
 * of up to 64 MiB; 48 MiB leaves room for the rest of the report. 200,000
 * typical cases are ~30 MB; failures with 4 KiB messages fill it at ~12,000.
 */
export const MAX_REPORT_CASE_BYTES = 48 * 2 ** 20;

/** The attempt's message carries the first note, cut here: the notes themselves travel beside it. */
const MAX_MESSAGE_NOTE_CHARS = 300;

/** States whose command ran to an end that says something about its tests; an infrastructure failure's cases are not to be trusted, a canceled attempt's are nobody's concern. */
const CASE_STATES: ReadonlySet<ReportedState> = new Set(["SUCCEEDED", "FAILED", "TIMED_OUT"]);

export type ReportCaseFields = Pick<ResultReport, "cases" | "result_format" | "result_notes">;

/** Failed and crashed cases first when some must be left out: they are what the user asks about. */
const rank = (c: CaseReport) => (c.status === "failed" || c.status === "crashed" ? 0 : 1);

/**
 * The cases that fit one report: at most `maxCases`, at most `maxBytes` of
 * JSON, failures kept first. Measured only when a cheap upper bound (6 bytes
 * per character, an escaped control character's) says it may not fit.
 */
export function fitCases(cases: readonly CaseReport[], maxCases = MAX_REPORTED_CASES, maxBytes = MAX_REPORT_CASE_BYTES): { kept: CaseReport[]; note: string | null } {
  let bound = 0;
  for (const c of cases) bound += 200 + 6 * (c.suite.length + c.name.length + (c.message?.length ?? 0) + (c.file?.length ?? 0));
  if (cases.length <= maxCases && bound <= maxBytes) return { kept: cases as CaseReport[], note: null };
  const ordered = [...cases].sort((a, b) => rank(a) - rank(b));
  const kept: CaseReport[] = [];
  let bytes = 2;
  for (const c of ordered) {
    if (kept.length >= maxCases) break;
    const size = Buffer.byteLength(JSON.stringify(c)) + 1;
    if (bytes + size > maxBytes) break;
    bytes += size;
    kept.push(c);
  }
  const dropped = cases.length - kept.length;
  const note = dropped === 0 ? null : `${dropped} of ${cases.length} cases were not reported: a report holds at most ${maxCases} cases and ${maxBytes} bytes of them (failed cases were kept first)`;
  return { kept, note };
}

/**
 * The report's case fields and the attempt's message with what the cases
 * say: the verdict when exit and cases disagree ("exited 1 with every one of
 * its 12 cases passed"), the case a killed binary was in, and a short note
 * when reading them went wrong.
 */
export function withCases(state: ReportedState, message: string | null, results: RunResults | null): { fields: ReportCaseFields; message: string | null } {
  if (!results || !CASE_STATES.has(state)) return { fields: {}, message };
  const { kept, note } = fitCases(results.cases);
  const notes = note ? [...results.notes, note] : results.notes;
  const fields: ReportCaseFields = {};
  if (kept.length > 0) {
    fields.cases = kept;
    if (results.format) fields.result_format = results.format;
  }
  if (notes.length > 0) fields.result_notes = notes.slice(0, MAX_RESULT_NOTES).map((n) => wireText(n, MAX_RESULT_NOTE_CHARS) || "(empty note)");

  let said = message;
  // The verdict replaces the exit's bare words ("killed by SIGABRT"); a timeout's own message stays.
  if (results.verdict && state !== "TIMED_OUT") said = results.verdict;
  const crashed = results.cases.find((c) => c.status === "crashed");
  if (crashed && state === "FAILED") said = join(said, `crashed in ${crashed.suite}.${crashed.name}`);
  if (crashed && state === "TIMED_OUT") said = join(said, `it was running ${crashed.suite}.${crashed.name}`);
  if (notes.length > 0) said = join(said, `results: ${wireText(notes[0]!, MAX_MESSAGE_NOTE_CHARS)}${notes.length > 1 ? ` (and ${notes.length - 1} more notes)` : ""}`);
  return { fields, message: said };
}

const join = (a: string | null, b: string) => (a ? `${a}; ${b}` : b);

/** A report stripped of its cases, for a master that refused them (an older master's 1 MiB body limit, a case it would not store). */
export function withoutCases(report: ResultReport, why: string): ResultReport {
  const { cases: _cases, result_format: _format, result_notes: _notes, ...rest } = report;
  return { ...rest, message: join(report.message, `results: the master refused the ${report.cases?.length ?? 0} cases (${wireText(why, MAX_MESSAGE_NOTE_CHARS)}); reported without them`) };
}
