/** @jsxImportSource hono/jsx */
import { raw } from "hono/html";
import { FOLLOW_SCRIPT } from "./follow-script.ts";
import { Page, pageLink } from "./layout.tsx";
import { LogHeader, type LogContext } from "./log-header.tsx";
import { ANSI_CSS, type RenderedLine } from "./log-render.ts";
import type { LogWindow } from "./log-window.ts";

/** One log of one attempt, as view_log's and /log's parameters name it. */
export interface LogRef {
  jobId: string;
  taskId: string;
  attempt: number;
  stream: "stdout" | "stderr";
}

/** dist_test's answers when view_log cannot show a log; its job page showed them in place of the log. */
export const LOG_MESSAGES = { noTask: "Could not find requested task", unknownLog: "Unknown log type" } as const;

/**
 * How many leading bytes of `bytes` are whole UTF-8 characters: a read cut
 * in the middle of a character leaves the rest for the next read, so the
 * live page never shows a replacement character at a chunk boundary.
 */
export function wholeUtf8Length(bytes: Uint8Array): number {
  const n = bytes.byteLength;
  let lead = n - 1;
  while (lead >= 0 && n - lead < 4 && (bytes[lead]! & 0xc0) === 0x80) lead--;
  if (lead < 0) return n;
  const b = bytes[lead]!;
  const length = b >= 0xf0 ? 4 : b >= 0xe0 ? 3 : b >= 0xc0 ? 2 : 1;
  return n - lead < length ? lead : n;
}

/**
 * The viewer's rules. Line numbers are a CSS counter (the page sets where
 * it starts), so the text of `<pre id="log">` (what a scraper of
 * dist_test's view_log reads, and what a user copies) is the log's text
 * alone, and a line costs ~40 bytes of markup. A constant.
 */
const LOG_CSS = `
pre.log { white-space: pre-wrap; overflow-wrap: anywhere; padding: 0.5em 0; background: #fbfbfb; }
pre.log > span { display: block; position: relative; padding-left: 7.5em; min-height: 1.4em; counter-increment: ln; }
pre.log > span > a:first-child { position: absolute; left: 0; width: 6.5em; text-align: right; color: #777; text-decoration: none; user-select: none; }
pre.log > span > a:first-child::before { content: counter(ln); }
pre.log > span > a:first-child:hover { color: #14b; text-decoration: underline; }
pre.log > span:target { background: #fff3b0; outline: 1px solid #d9b400; }
.log-nav a, .log-nav button { margin-right: 1em; }
.state { font-weight: bold; padding: 0 0.3em; border: 1px solid #999; }
${ANSI_CSS}
`;

/**
 * The HTML of numbered lines from line `firstLine`: each a block whose
 * anchor `#L<n>` links to itself; its number is the CSS counter. `html` is
 * rendered and escaped by log-render. For the page and the live page's polls.
 */
/** What linesHtml adds around a line, at most (numbers up to 10 digits), for the page's budget. */
export const LINE_MARKUP_CHARS = 60;

export function linesHtml(firstLine: number, lines: readonly RenderedLine[]): string {
  return lines.map((line, i) => `<span id="L${firstLine + i}"><a href="#L${firstLine + i}"></a>${line.html}\n</span>`).join("");
}

const size = (bytes: number) => (bytes < 1024 ? `${bytes} bytes` : `${Math.ceil(bytes / 1024).toLocaleString("en")} KB`);
const num = (n: number) => n.toLocaleString("en");

/** Where the shown slice sits in the log, with links to the slices before and after it; plain links, so they work without scripts. */
function RangeNav({ page, log, win, lines, following }: { page: string; log: LogRef; win: LogWindow; lines: number; following: boolean }) {
  const query = { job_id: log.jobId, task_id: log.taskId, attempt: log.attempt, log: log.stream };
  const last = win.firstLine + Math.max(lines, 1) - 1;
  const whole = win.start === 0 && (win.end >= win.size || following);
  // A followed log's unfinished last line is not "later": the script adds it once it ends.
  const later = win.end < win.size && !following;
  return (
    <nav class="log-nav" aria-label="Parts of the log">
      <p>
        {lines === 0 ? "No lines yet" : whole ? `All ${num(lines)} lines` : lines === 1 ? `Line ${num(last)}` : `Lines ${num(win.firstLine)}–${num(last)}`}
        {` (${size(win.size)} in all).`}{" "}
        {win.start > 0 ? <a id="log-earlier" rel="prev" href={pageLink(page, { ...query, before: win.start })}>Earlier lines</a> : null}
        {win.start > 0 ? <a href={pageLink(page, { ...query, after: 0 })}>First lines</a> : null}
        {later ? <a id="log-later" rel="next" href={pageLink(page, { ...query, after: win.end })}>Later lines</a> : null}
        {later ? <a href={pageLink(page, query)}>Last lines</a> : null}
      </p>
    </nav>
  );
}

/**
 * `/view_log` and `/log`: a header saying whose log it is, then one slice
 * of the log (the end by default) with numbered, linkable lines and its
 * colours. A running log's page follows the log (FOLLOW_SCRIPT, with a
 * pause); without scripts it offers a refresh link instead.
 */
export function LogViewerPage({ page, ctx, win, lines }: { page: string; ctx: LogContext; win: LogWindow; lines: RenderedLine[] }) {
  const { log } = ctx;
  const query = { job_id: log.jobId, task_id: log.taskId, attempt: log.attempt, log: log.stream };
  const following = !win.complete && win.end >= win.size - LOG_FOLLOW_SLACK;
  return (
    <Page title={`dt: ${ctx.description} attempt ${log.attempt} ${log.stream}`} css={LOG_CSS}>
      <LogHeader ctx={ctx} page={page} />
      <RangeNav page={page} log={log} win={win} lines={lines.length} following={following} />
      {win.complete ? null : (
        <p id="log-live">
          <span id="log-status" role="status">{following ? "The attempt is running; new lines appear below." : "The attempt is running."}</span>{" "}
          <button type="button" id="log-pause" hidden>Pause</button>{" "}
          <a href={`${pageLink(page, query)}#log-end`}>Refresh</a>
        </p>
      )}
      <pre
        id="log"
        class="log"
        style={`counter-reset: ln ${win.firstLine - 1}`}
        data-src={pageLink("log", { ...query, format: "lines" })}
        data-end={String(win.end)}
        data-next-line={String(win.firstLine + lines.length)}
        data-follow={String(following)}
      >
        {raw(linesHtml(win.firstLine, lines))}
      </pre>
      <p id="log-end" class="note">{win.complete && win.end >= win.size ? "End of the log." : ""}</p>
      {following ? <script dangerouslySetInnerHTML={{ __html: FOLLOW_SCRIPT }} /> : null}
    </Page>
  );
}

/** A running log's page follows when it shows the end, give or take a line written while the page was made. */
const LOG_FOLLOW_SLACK = 64 * 1024;
