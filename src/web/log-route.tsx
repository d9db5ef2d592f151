/** @jsxImportSource hono/jsx */
/** The log viewer's route, shared by `/view_log` and `/log` (see webRoutes). */
import type { Context } from "hono";
import { DtError } from "../common/errors.ts";
import { SMALL_FORM_BYTES, attemptParam, requestParams, requireParam } from "../master/http/cherrypy.ts";
import type { Master } from "../master/master.ts";
import type { Attempt } from "../master/model.ts";
import { PAGE_SECURITY_POLICY, sendPage } from "./layout.tsx";
import { logContext } from "./log-header.tsx";
import { LINE_MARKUP_CHARS, LOG_MESSAGES, LogViewerPage, type LogRef, linesHtml, wholeUtf8Length } from "./log-pages.tsx";
import { fitLines, renderLogLines } from "./log-render.ts";
import { type LogRange, readLogWindow } from "./log-window.ts";
import { findCaseLine } from "./log-find.ts";
import { pageLink } from "./layout.tsx";

/**
 * The HTML a log page spends on lines: with the header and styles, a page
 * stays under ~210 KB however the log looks (escapes and colour spans can
 * make a line's HTML several times its bytes), unless one line alone is
 * bigger. The bytes read for a page (LOG_WINDOW_BYTES) bound the work.
 */
const MAX_LOG_HTML_CHARS = 200_000;

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
export async function logPage(c: Context, master: Master, page: "view_log" | "log"): Promise<Response> {
  const params = await requestParams(c, SMALL_FORM_BYTES);
  const found = await logRef(master, params);
  if (found === "noTask" || found === "unknownLog") return c.text(LOG_MESSAGES[found], found === "noTask" ? 404 : 400);
  const caseName = params.get("case");
  if (caseName) return redirectToCase(c, master, page, found.log, caseName, params.get("at") || null);
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

/** How gtest announces a case it starts. */
const GTEST_RUN = "[ RUN      ] ";

/** Lines of a case's output a failure link shows above the failing line, at most. */
const CONTEXT_LINES = 200;

/** The longest case name a link may ask for: a suite and a parameterised name fit many times over. */
const MAX_CASE_NAME = 1_000;

/**
 * `case=Suite.Name[&at=file.cc:12]`: the same log page at the line the
 * case failed on (log-find.ts), as `line=N#LN` so the browser scrolls to it
 * and the address is one a user can pass on; at the log's end when the log
 * never names the case.
 */
async function redirectToCase(c: Context, master: Master, page: "view_log" | "log", log: LogRef, caseName: string, place: string | null): Promise<Response> {
  if (caseName.length > MAX_CASE_NAME || (place?.length ?? 0) > MAX_CASE_NAME) throw new DtError("invalid_input", `case and at must be at most ${MAX_CASE_NAME} characters`);
  const { size } = await master.readLog(log.jobId, log.taskId, log.attempt, log.stream, Number.MAX_SAFE_INTEGER);
  // gtest's `[ RUN      ] Suite.Name` first: the plain name may come earlier, in its `Note: Google Test filter = …` line.
  const found = (await findCaseLine(master, log, size, `${GTEST_RUN}${caseName}`, place)) ?? (await findCaseLine(master, log, size, caseName, place));
  const query = { job_id: log.jobId, task_id: log.taskId, attempt: log.attempt, log: log.stream };
  if (!found) return c.redirect(pageLink(page, query), 302);
  // The page starts where the case's output does, so the reader sees what led to the failure above it, unless that is too far up for one page.
  const start = Math.max(found.caseLine, found.line - CONTEXT_LINES);
  return c.redirect(`${pageLink(page, { ...query, line: start })}#L${found.line}`, 302);
}
