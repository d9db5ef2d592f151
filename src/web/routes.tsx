/** @jsxImportSource hono/jsx */
import { markQuarantined } from "../master/quarantine/case-views.ts";
import { type Context, Hono } from "hono";
import { DtError, isDtError } from "../common/errors.ts";
import { SMALL_FORM_BYTES, attemptParam, noCache, requestParams, requireParam } from "../master/http/cherrypy.ts";
import type { Master } from "../master/master.ts";
import { IndexPage } from "./index-page.tsx";
import { JobPage, NoTasksPage } from "./job-page.tsx";
import { type JobPageCases, MAX_PAGE_CASES } from "./case-list.tsx";
import { jobCaseView } from "../master/http/case-api.ts";
import type { JobCaseStatus } from "../master/protocol.ts";
import { PAGE_SECURITY_POLICY, Page, sendPage } from "./layout.tsx";
import { LINE_MARKUP_CHARS, LOG_MESSAGES, LogViewerPage, type LogRef, linesHtml, wholeUtf8Length } from "./log-pages.tsx";
import { logContext } from "./log-header.tsx";
import { fitLines, renderLogLines } from "./log-render.ts";
import { type LogRange, readLogWindow } from "./log-window.ts";
import type { Attempt } from "../master/model.ts";
import { catapultTrace, TracePage } from "./trace-page.tsx";
import { OutputsPage } from "./outputs-page.tsx";
import { checkBytesMatch } from "../isolate/digest.ts";
import { type IsolatedEntry, parseIsolated } from "../isolate/manifest.ts";
import type { OutputsRef } from "../isolate/outputs/outputs-ref.ts";
import { DEFAULT_MAX_OUTPUTS_FILES } from "../isolate/outputs/upload-outputs.ts";
import { isRowFilter, taskRows } from "./task-rows.ts";

/** dist_test's index listed the jobs of the last day. */
const RECENT_JOBS_MS = 86_400_000;
/** Each listed job costs a read of its attempts; a day of a busy master's jobs stays well under this. */
const RECENT_JOBS_LIMIT = 500;
/**
 * The HTML a log page spends on lines: with the header and styles, a page
 * stays under ~210 KB however the log looks (escapes and colour spans can
 * make a line's HTML several times its bytes), unless one line alone is
 * bigger. The bytes read for a page (LOG_WINDOW_BYTES) bound the work.
 */
const MAX_LOG_HTML_CHARS = 200_000;
/** Both of dist_test's methods: CherryPy's handlers answered either. */
const METHODS = ["GET", "POST"];

/** The log a request names and its attempt, or which of dist_test's messages answers it: no such attempt, or no such log type (checked in that order, as dist_test did). */
async function logRef(master: Master, params: ReadonlyMap<string, string>): Promise<{ log: LogRef; attempt: Attempt } | "noTask" | "unknownLog"> {
  const ref = { jobId: requireParam(params, "job_id"), taskId: requireParam(params, "task_id"), attempt: attemptParam(params) };
  const attempt = await master.deps.repo.getAttempt(ref.jobId, ref.taskId, ref.attempt);
  if (!attempt) return "noTask";
  const stream = params.get("log");
  if (stream !== "stdout" && stream !== "stderr") return "unknownLog";
  return { log: { ...ref, stream }, attempt };
}

/** A byte offset or line number from the query, or undefined when absent; a bad one is a 400 naming it. */
function offsetParam(params: ReadonlyMap<string, string>, name: string, min = 0): number | undefined {
  const text = params.get(name);
  if (text === undefined || text === "") return undefined;
  const n = Number(text);
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(n) || n < min) throw new DtError("invalid_input", `${name} must be an integer of at least ${min}, got ${JSON.stringify(text.slice(0, 40))}`);
  return n;
}

/** Which slice of the log a request asks for (see LogRange). */
function logRange(params: ReadonlyMap<string, string>): LogRange {
  return { before: offsetParam(params, "before"), after: offsetParam(params, "after"), line: offsetParam(params, "line", 1), firstLine: offsetParam(params, "first_line", 1) };
}

/**
 * `/view_log` and `/log`: the log viewer (LogViewerPage) on one slice of the
 * log; with `format=lines` (the live page's polls), only the slice's lines
 * as HTML, and where they end in headers.
 */
async function logPage(c: Context, master: Master, page: "view_log" | "log"): Promise<Response> {
  const params = await requestParams(c, SMALL_FORM_BYTES);
  const found = await logRef(master, params);
  if (found === "noTask" || found === "unknownLog") return c.text(LOG_MESSAGES[found], found === "noTask" ? 404 : 400);
  const range = logRange(params);
  const win = await readLogWindow(master, found.log, range);
  const whole = win.complete ? win.bytes : win.bytes.subarray(0, wholeUtf8Length(win.bytes));
  // Keep what fits the page's budget of HTML, at the side the reader came from: the end unless they asked for what follows an offset or a line.
  const fromEnd = range.after === undefined && range.line === undefined;
  const { kept, droppedBytes, droppedLines } = fitLines(renderLogLines(whole), MAX_LOG_HTML_CHARS, fromEnd, LINE_MARKUP_CHARS);
  const shown = fromEnd
    ? { ...win, start: win.start + droppedBytes, end: win.start + whole.byteLength, firstLine: win.firstLine + droppedLines }
    : { ...win, end: win.start + whole.byteLength - droppedBytes };
  if (params.get("format") === "lines") {
    const headers = { "Content-Security-Policy": PAGE_SECURITY_POLICY, "X-Log-End": String(shown.end), "X-Log-Size": String(win.size), "X-Log-Complete": String(win.complete), "X-Log-Lines": String(kept.length) };
    return c.html(linesHtml(shown.firstLine, kept), 200, headers);
  }
  const ctx = await logContext(master, found.log, found.attempt);
  if (!ctx) return c.text(LOG_MESSAGES.noTask, 404);
  return sendPage(c, <LogViewerPage page={page} ctx={ctx} win={shown} lines={kept} />);
}

/**
 * dist_test's HTML views, for people: `/` (what gce-autoscale.py scraped),
 * `/job`, `/trace`, `/view_log`, and dt's live `/log`. Mounted at "/"
 * through distTestRoutes. Every value in a page is escaped by the JSX.
 */
/** The job's case counts and its first failed and flaky cases; undefined for a job whose tasks reported none. */
async function pageCases(master: Master, jobId: string): Promise<JobPageCases | undefined> {
  const { repo } = master.deps;
  const counts = await repo.jobCaseCounts(jobId);
  if (counts.total === 0) return undefined;
  const list = async (statuses: JobCaseStatus[], n: number) => {
    if (n === 0) return [];
    const rows = await repo.listJobCases(jobId, { statuses, limit: MAX_PAGE_CASES });
    const views = rows.map(jobCaseView);
    await markQuarantined(repo, jobId, rows, views);
    return views;
  };
  return { counts, failed: await list(["failed", "crashed"], counts.failed), flaky: await list(["flaky"], counts.flaky) };
}

export function webRoutes(master: Master): Hono {
  const app = new Hono();

  app.on(METHODS, "/", noCache, async (c) => {
    const now = master.deps.clock.now();
    const jobs = await master.listJobs({ since: now - RECENT_JOBS_MS, limit: RECENT_JOBS_LIMIT });
    return sendPage(c, <IndexPage stats={master.queueStats()} decisions={master.decisions.list()} jobs={jobs} />);
  });

  app.on(METHODS, "/job", noCache, async (c) => {
    const params = await requestParams(c, SMALL_FORM_BYTES);
    const jobId = requireParam(params, "job_id");
    const filter = params.get("status") || null;
    if (filter !== null && !isRowFilter(filter)) {
      return sendPage(c, <Page title="dt: bad filter"><p>{`Unknown status type ${filter}`}</p></Page>, 400);
    }
    const status = await master.distTestStatus(jobId);
    if (!status) return sendPage(c, <NoTasksPage jobId={jobId} />, 404);
    const { job, tasks } = await master.jobTasks(jobId);
    const cases = await pageCases(master, jobId);
    const flags = await master.jobFlags(jobId);
    return sendPage(c, <JobPage job={job} status={status} rows={taskRows(job, tasks)} filter={filter} now={master.deps.clock.now()} cases={cases} flags={flags} />);
  });

  app.on(METHODS, "/trace", noCache, async (c) => {
    const params = await requestParams(c, SMALL_FORM_BYTES);
    const jobId = requireParam(params, "job_id");
    const format = params.get("format") || "html";
    if (format !== "html" && format !== "json") throw new DtError("invalid_input", `format must be html or json, got ${JSON.stringify(format.slice(0, 40))}`);
    const found = await master.jobTasks(jobId).catch((err) => (isDtError(err, "not_found") ? null : Promise.reject(err)));
    if (format === "json") {
      if (!found) throw new DtError("not_found", `no job ${JSON.stringify(jobId)}`);
      return c.json(catapultTrace(found.tasks));
    }
    if (!found) return sendPage(c, <NoTasksPage jobId={jobId} />, 404);
    return sendPage(c, <TracePage jobId={jobId} tasks={found.tasks} />);
  });

  // dist_test sent view_log without its no_caching tool: a finished attempt's log never changes.
  app.on(METHODS, "/view_log", (c) => logPage(c, master, "view_log"));
  app.on(METHODS, "/log", noCache, (c) => logPage(c, master, "log"));

  app.on(METHODS, "/outputs", noCache, async (c) => {
    const params = await requestParams(c, SMALL_FORM_BYTES);
    const ref = { jobId: requireParam(params, "job_id"), taskId: requireParam(params, "task_id"), attempt: attemptParam(params) };
    const a = await master.deps.repo.getAttempt(ref.jobId, ref.taskId, ref.attempt);
    const missing = (text: string) => sendPage(c, <Page title="dt: no outputs"><p id="empty">{text}</p></Page>, 404);
    if (!a) return missing(LOG_MESSAGES.noTask);
    if (!a.outputsRef) return missing(`Attempt ${ref.attempt} of task ${ref.taskId} has no outputs${a.message ? `: ${a.message}` : ""}`);
    const listed = await listOutputs(master, a.outputsRef);
    return sendPage(c, <OutputsPage jobId={ref.jobId} taskId={ref.taskId} attempt={ref.attempt} ref={a.outputsRef} {...listed} />);
  });

  return app;
}

/** The manifest's entries, when this master reads the CAS it names (see OutputsReader); else why not. */
async function listOutputs(master: Master, ref: OutputsRef): Promise<{ files: [string, IsolatedEntry][] | null; why: string | null }> {
  const reader = master.deps.outputs;
  if (!reader || reader.server !== ref.isolatedserver) return { files: null, why: "This master does not read that CAS: open the manifest by its link, or use dt fetch -o." };
  try {
    const bytes = await reader.read(ref.isolated);
    if (!bytes) return { files: null, why: `The CAS does not have the manifest (evicted?), or it is too big to list here.` };
    checkBytesMatch(bytes, { hash: ref.isolated, size: bytes.byteLength }, `outputs manifest ${ref.isolated}`);
    // No more entries than a slave uploads (the page lists 10,000 of them): a million tiny ones would hold the event loop for seconds on each view.
    const files = Object.entries(parseIsolated(bytes, `outputs manifest ${ref.isolated}`, { maxFiles: DEFAULT_MAX_OUTPUTS_FILES }).files).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return { files, why: null };
  } catch (err) {
    return { files: null, why: `Cannot list the outputs: ${(err as Error).message}` };
  }
}
