/** A case selection as the native API shows it on an attempt (protocol.ts CaseSelectionView). */
import { CASE_SELECTION_NAMES, type CaseSelectionView } from "../protocol.ts";
import type { CaseSelection } from "./case-filter.ts";

/**
 * The selection's mode, size and first names; null for none. A selection
 * may name 100,000 cases: the view names a few, the count says how many.
 *
 * @example
 *   caseSelectionView({ include: [{ suite: "FlakyTest", name: "FailsOnFirstAttempt" }] });
 *   // { mode: "include", count: 1, names: ["FlakyTest.FailsOnFirstAttempt"] }
 */
export function caseSelectionView(selection: CaseSelection | null): CaseSelectionView | null {
  if (selection === null) return null;
  const [mode, cases] = "include" in selection ? (["include", selection.include] as const) : (["exclude", selection.exclude] as const);
  return { mode, count: cases.length, names: cases.slice(0, CASE_SELECTION_NAMES).map((c) => `${c.suite}.${c.name}`) };
}
