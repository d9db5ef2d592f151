/** @jsxImportSource hono/jsx */
import { Page, pageLink } from "./layout.tsx";

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

/** `/view_log`: the whole log, escaped, as dist_test's job page loaded it. */
export function ViewLogPage({ log, text }: { log: LogRef; text: string }) {
  return (
    <Page title={`dt: ${log.taskId}.${log.attempt}.${log.stream}`}>
      <pre id="log">{text}</pre>
    </Page>
  );
}

/**
 * Polls the native log API from where the server-rendered text ends and
 * appends what comes, as text (textContent), never as markup. A constant:
 * every value it uses comes from the data attributes of #log, which the JSX
 * escapes, so nothing user-given is ever spliced into the script.
 */
const FOLLOW_SCRIPT = `
(function () {
  var pre = document.getElementById("log");
  var status = document.getElementById("log-status");
  var d = pre.dataset;
  var offset = Number(d.offset);
  var decoder = new TextDecoder();
  function append(text) {
    if (!text) return;
    var atBottom = window.innerHeight + window.scrollY >= document.body.scrollHeight - 20;
    var chunk = document.createElement("span");
    chunk.textContent = text;
    pre.appendChild(chunk);
    if (atBottom) window.scrollTo(0, document.body.scrollHeight);
  }
  function poll() {
    var query = new URLSearchParams({ task: d.task, attempt: d.attempt, stream: d.stream, offset: String(offset) });
    fetch(d.api + "?" + query, { cache: "no-store" }).then(function (res) {
      if (!res.ok) throw new Error("HTTP " + res.status);
      var size = Number(res.headers.get("X-Log-Size"));
      var complete = res.headers.get("X-Log-Complete") === "true";
      return res.arrayBuffer().then(function (buffer) {
        var bytes = new Uint8Array(buffer);
        offset += bytes.length;
        var done = complete && offset >= size;
        append(decoder.decode(bytes, { stream: !done }));
        if (done) {
          status.textContent = "The attempt has ended; this is the whole log.";
          return;
        }
        status.textContent = "Following the log: " + offset + " bytes so far.";
        setTimeout(poll, offset < size ? 0 : 1000);
      });
    }).catch(function (err) {
      status.textContent = "Cannot read the log (" + err.message + "); trying again in 5 s.";
      setTimeout(poll, 5000);
    });
  }
  if (d.complete !== "true") poll();
})();
`;

/**
 * `/log`: a log as it grows. `text` is the first `offset` bytes, decoded;
 * `complete` when those are all there will ever be.
 */
export function LiveLogPage({ log, text, offset, complete }: { log: LogRef; text: string; offset: number; complete: boolean }) {
  return (
    <Page title={`dt: ${log.taskId}.${log.attempt}.${log.stream} (live)`}>
      <p>
        <a href={pageLink("job", { job_id: log.jobId })}>Job</a> task <span class="mono">{log.taskId}</span> attempt {log.attempt}, {log.stream}.{" "}
        <span id="log-status">{complete ? "The attempt has ended; this is the whole log." : "Following the log…"}</span>
      </p>
      <pre
        id="log"
        data-api={`api/v1/jobs/${encodeURIComponent(log.jobId)}/log`}
        data-task={log.taskId}
        data-attempt={String(log.attempt)}
        data-stream={log.stream}
        data-offset={String(offset)}
        data-complete={String(complete)}
      >
        {text}
      </pre>
      <script dangerouslySetInnerHTML={{ __html: FOLLOW_SCRIPT }} />
    </Page>
  );
}
