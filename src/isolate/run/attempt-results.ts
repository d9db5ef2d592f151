/**
 * The test cases of one run, read after its command from what it left: the
 * result files in ISOLATED_OUTDIR and its stdout (results/collect.ts), with
 * the verdict's line when its exit and its cases disagree. What run-isolated
 * puts in its result (`--json`) and a slave in its report. Reading never
 * fails the run: trouble is a note.
 */
import { type ResultSourceSummary, readResults } from "../../results/collect.ts";
import type { ResultFormat } from "../../results/model.ts";
import { taskVerdict } from "../../results/verdict.ts";
import { type CaseCounts, countCases, toWireCase } from "../../results/to-wire.ts";
import type { CaseReport } from "../../results/wire.ts";

export interface RunResults {
  counts: CaseCounts;
  /** The format most cases came from; null when there are none. */
  format: ResultFormat | null;
  /** Each report read: its path under the outputs (or "stdout"), format and case count. */
  sources: ResultSourceSummary[];
  /** What went wrong reading them, each starting with the file it is about. */
  notes: string[];
  /** Set when the exit and the cases disagree: "exited 1 with every one of its 12 cases passed". */
  verdict: string | null;
  cases: CaseReport[];
}

export interface ReadRunResultsOptions {
  outputDir: string | null;
  stdoutPath: string | null;
  globs: readonly string[];
  exitCode: number | null;
  signal: string | null;
  /** Set when the run was killed for its timeout: the case it was in is said to have timed out, not crashed on its own. */
  timedOutAfterSec: number | null;
}

/** Reads the run's cases; never rejects. */
export async function readRunResults(o: ReadRunResultsOptions): Promise<RunResults> {
  const read = await readResults({ outputsDir: o.outputDir, resultGlobs: o.globs, stdoutLog: o.stdoutPath, exitCode: o.exitCode, signal: o.signal }).catch((err) => ({
    cases: [],
    notes: [`results could not be read: ${(err as Error).message}`],
    sources: [],
  }));
  if (o.timedOutAfterSec !== null) {
    for (const c of read.cases) if (c.status === "crashed") c.message = `timed out after ${o.timedOutAfterSec} s; ${c.message ?? "crashed"}`;
  }
  const verdict = o.timedOutAfterSec === null ? taskVerdict(o.exitCode, o.signal, read.cases).message : null;
  return { counts: countCases(read.cases), format: mainFormat(read.sources), sources: read.sources, notes: read.notes, verdict, cases: read.cases.map(toWireCase) };
}

/** The format of the source that gave the most cases (the first of equals). */
function mainFormat(sources: readonly ResultSourceSummary[]): ResultFormat | null {
  let best: ResultSourceSummary | null = null;
  for (const s of sources) if (s.cases > 0 && (!best || s.cases > best.cases)) best = s;
  return best?.format ?? null;
}
