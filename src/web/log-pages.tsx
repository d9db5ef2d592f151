/** @jsxImportSource hono/jsx */
import { FOLLOW_SCRIPT } from "./follow-script.ts";
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
