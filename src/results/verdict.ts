/**
 * How a command's end reads beside its cases: the message of a case that was
 * running when its binary died, and the task's verdict when the exit code and
 * the cases disagree.
 */
import { constants } from "node:os";
import type { CaseResult } from "./model.ts";

/** A signal as the user knows it: "signal 6, SIGABRT" from either "SIGABRT" or 6. */
export function describeSignal(signal: string | number): string {
  const signals = constants.signals as Record<string, number>;
  if (typeof signal === "number") {
    const name = Object.keys(signals).find((key) => signals[key] === signal);
    return name ? `signal ${signal}, ${name}` : `signal ${signal}`;
  }
  const number = signals[signal];
  return number === undefined ? `signal ${signal}` : `signal ${number}, ${signal}`;
}

/**
 * The message of a case cut short by its binary's death: "crashed (signal 6,
 * SIGABRT)". A shell in between turns the signal into exit code 128 + N,
 * which is named as both.
 */
export function crashedMessage(exitCode: number | null | undefined, signal: string | number | null | undefined): string {
  if (signal !== null && signal !== undefined && signal !== "") return `crashed (${describeSignal(signal)})`;
  if (typeof exitCode === "number" && exitCode > 128 && exitCode < 160) return `crashed (exit ${exitCode}: ${describeSignal(exitCode - 128)})`;
  if (typeof exitCode === "number") return `crashed (exit ${exitCode})`;
  return "crashed (the output ends during this case)";
}

export interface TaskVerdict {
  /** The task failed: its command did not exit 0 (the cases never turn a non-zero exit into a pass). */
  failed: boolean;
  /** Why, when the cases alone would not say: a non-zero exit with every case passed, or exit 0 beside failed cases. */
  message: string | null;
}

/**
 * The task's verdict from its exit and its cases. The exit code decides, as
 * in dist_test; the message covers the surprise the cases leave: a binary
 * that exits non-zero (a leak checker, a crash in teardown) with every case
 * passed would otherwise show a failed task with nothing failed in it.
 *
 * @example
 *   taskVerdict(1, null, cases) // { failed: true, message: "exited 1 with every one of its 12 cases passed" }
 */
export function taskVerdict(exitCode: number | null, signal: string | number | null, cases: readonly CaseResult[]): TaskVerdict {
  const ended = signal !== null && signal !== "" ? `was killed by ${describeSignal(signal)}` : `exited ${exitCode ?? "with no exit code"}`;
  const failed = exitCode !== 0 || (signal !== null && signal !== "");
  const bad = cases.filter((c) => c.status === "failed" || c.status === "crashed").length;
  if (failed && cases.length > 0 && bad === 0) {
    const passed = cases.filter((c) => c.status === "passed").length;
    const all = passed === cases.length ? `every one of its ${cases.length} cases passed` : `none of its ${cases.length} cases failed (${passed} passed, ${cases.length - passed} skipped)`;
    return { failed, message: `${ended} with ${all}` };
  }
  // The exit code still decides (a wrapper may ignore a failure on purpose), but the disagreement is worth a line.
  if (!failed && bad > 0) return { failed, message: `exited 0 although ${bad} of its ${cases.length} cases failed` };
  return { failed, message: null };
}
