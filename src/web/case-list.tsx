/** @jsxImportSource hono/jsx */
/** What the job page shows of a job's test cases: their counts, and how a failure's message is cut. */
import type { JobCaseCounts } from "../master/protocol.ts";
import { formatCount } from "./layout.tsx";

/**
 * Failed and flaky cases the job page lists, each at most: the page of a
 * broken build stays small, and the API pages through the rest.
 */
export const MAX_PAGE_CASES = 50;

/** A message is shown by its first lines (the log has the rest): enough for an assertion's expected/actual. */
const MESSAGE_LINES = 5;
const MESSAGE_CHARS = 1_000;

/** The first lines of a failure message, bounded. */
export function messageHead(message: string | null): string {
  if (!message) return "";
  const lines = message.split("\n");
  let head = lines.slice(0, MESSAGE_LINES).join("\n");
  if (head.length > MESSAGE_CHARS) head = head.slice(0, MESSAGE_CHARS);
  return head.length < message.length ? `${head}\n…` : head;
}

/** `Cases: 1,097 (1,085 passed, 11 failed, 1 flaky, 1 skipped)` for the page's header. */
export function CaseCounts({ counts }: { counts: JobCaseCounts }) {
  const n = formatCount;
  return (
    <span id="case-counts">
      Cases: {n(counts.total)} ({n(counts.passed)} passed, {n(counts.failed)} failed, {n(counts.flaky)} flaky, {n(counts.skipped)} skipped)
    </span>
  );
}
