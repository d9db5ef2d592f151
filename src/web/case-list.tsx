/** @jsxImportSource hono/jsx */
import type { JobCaseCounts, JobCaseView } from "../master/protocol.ts";
import { formatCount, pageLink } from "./layout.tsx";
import { CaseReuseMark } from "./reuse-marks.tsx";

/**
 * Failed and flaky cases the job page lists, each at most: the page of a
 * broken build stays small, and the API pages through the rest.
 */
export const MAX_PAGE_CASES = 50;

/** A message is shown by its first lines (the log has the rest): enough for an assertion's expected/actual. */
const MESSAGE_LINES = 5;
const MESSAGE_CHARS = 1_000;

/** What the job page shows of the job's test cases; absent for a job whose tasks reported none. */
export interface JobPageCases {
  counts: JobCaseCounts;
  /** The first MAX_PAGE_CASES failed (crashed included), then the first flaky ones. */
  failed: JobCaseView[];
  flaky: JobCaseView[];
}

/** The first lines of a failure message, bounded. */
export function messageHead(message: string | null): string {
  if (!message) return "";
  const lines = message.split("\n");
  let head = lines.slice(0, MESSAGE_LINES).join("\n");
  if (head.length > MESSAGE_CHARS) head = head.slice(0, MESSAGE_CHARS);
  return head.length < message.length ? `${head}\n…` : head;
}

function duration(ms: number | null): string {
  if (ms === null) return "";
  return ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(1)} s`;
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

function CaseRow({ jobId, c }: { jobId: string; c: JobCaseView }) {
  return (
    <tr class={c.quarantined ? "quarantined" : c.status === "flaky" ? "flaky" : "failed"}>
      <td class="mono">
        {c.binary} › {c.suite ? `${c.suite}.` : ""}
        {c.name}
      </td>
      <td>{c.quarantined ? `${c.status}, quarantined` : c.status}</td>
      <td>{duration(c.duration_ms)}</td>
      <td>
        {c.quarantined ? <div class="note">{`quarantined (entry ${c.quarantined.id}): ${c.quarantined.reason}`}</div> : null}
        <CaseReuseMark c={c} />
        <pre class="note">{messageHead(c.message)}</pre>
        {c.file ? <div class="note">{`${c.file}${c.line !== null ? `:${c.line}` : ""}`}</div> : null}
      </td>
      <td>
        <a href={pageLink("view_log", { job_id: jobId, task_id: c.task_id, attempt: c.attempt, log: "stdout" })}>attempt {c.attempt}</a>{" "}
        <a href={pageLink("tests/history", { binary: c.binary, suite: c.suite, case: c.name })}>history</a>
      </td>
    </tr>
  );
}

function CaseTable({ id, jobId, rows }: { id: string; jobId: string; rows: readonly JobCaseView[] }) {
  return (
    <table id={id}>
      <thead>
        <tr>
          <th>case</th>
          <th>status</th>
          <th>time</th>
          <th>message</th>
          <th>log</th>
        </tr>
      </thead>
      <tbody>
        {rows.map((c) => (
          <CaseRow jobId={jobId} c={c} />
        ))}
      </tbody>
    </table>
  );
}

/**
 * The failed cases, then the flaky ones, above the task table: binary ›
 * suite.name, status, duration, the message's first lines and a link to
 * the log of the attempt that decided the case; then, apart and marked in
 * words (not by colour alone), the quarantined failures with their
 * entries' reasons: they failed but did not fail the job. Everything a test
 * or an operator wrote is text here: hono/jsx escapes it.
 */
export function FailedCases({ jobId, cases }: { jobId: string; cases: JobPageCases }) {
  const quarantined = cases.failed.filter((c) => c.quarantined);
  const rows = [...cases.failed.filter((c) => !c.quarantined), ...cases.flaky];
  if (rows.length === 0 && quarantined.length === 0) return null;
  const more = (status: "failed" | "flaky", shown: number, total: number) =>
    total > shown ? (
      <p class="note">
        and {formatCount(total - shown)} more {status} cases: <a href={`api/v1/jobs/${encodeURIComponent(jobId)}/cases?status=${status}`}>all of them (JSON)</a>
      </p>
    ) : null;
  return (
    <section id="failed-cases">
      {rows.length > 0 ? (
        <>
          <h2>Failed test cases</h2>
          <CaseTable id="cases" jobId={jobId} rows={rows} />
        </>
      ) : null}
      {more("failed", cases.failed.length, cases.counts.failed)}
      {more("flaky", cases.flaky.length, cases.counts.flaky)}
      {quarantined.length > 0 ? (
        <>
          <h2>Quarantined failures (did not fail the job)</h2>
          <CaseTable id="quarantined-cases" jobId={jobId} rows={quarantined} />
        </>
      ) : null}
    </section>
  );
}
