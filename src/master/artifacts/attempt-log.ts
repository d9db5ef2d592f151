/**
 * Reading an attempt's log from an offset, wherever it is now: the live log
 * while the attempt runs (or when no upload happened), the uploaded object
 * once there is one.
 */
import { DtError } from "../../common/errors.ts";
import { TERMINAL_STATES } from "../model.ts";
import { outputKey } from "../protocol.ts";
import type { Repo } from "../repo/repo.ts";
import type { ArtifactStore } from "./artifact-store.ts";
import type { LiveLogs } from "./live-logs.ts";

/** Largest slice of a log one read returns, as LiveLogs does: a client follows a huge log page by page. */
const MAX_LOG_READ_BYTES = 4 * 2 ** 20;

export interface LogSources {
  repo: Pick<Repo, "getAttempt">;
  artifacts: ArtifactStore;
  liveLogs: LiveLogs;
}

/**
 * Where the attempt's log is: its uploaded object once the attempt ended and
 * one was stored (null otherwise: the live log is read), and whether the
 * attempt ended. A not_found DtError for an unknown attempt.
 */
async function locateLog(from: LogSources, jobId: string, taskId: string, attempt: number, stream: "stdout" | "stderr"): Promise<{ complete: boolean; object: Awaited<ReturnType<ArtifactStore["get"]>> }> {
  const a = await from.repo.getAttempt(jobId, taskId, attempt);
  if (!a) throw new DtError("not_found", `no attempt ${attempt} of task ${taskId} in job ${jobId}`);
  const complete = TERMINAL_STATES.has(a.state);
  const uploaded = stream === "stdout" ? a.stdoutKey : a.stderrKey;
  return { complete, object: complete && uploaded ? await from.artifacts.get(uploaded) : null };
}

export async function readAttemptLog(from: LogSources, jobId: string, taskId: string, attempt: number, stream: "stdout" | "stderr", offset: number): Promise<{ bytes: Uint8Array; size: number; complete: boolean }> {
  const { complete, object } = await locateLog(from, jobId, taskId, attempt, stream);
  if (object) {
    const start = Math.min(offset, object.size);
    const end = Math.min(object.size, start + MAX_LOG_READ_BYTES);
    // A file-backed object is read for the slice asked only; a stream (a remote store) up to the slice's end, then let go.
    if (start === end) {
      if (!(object.body instanceof Blob)) await object.body.cancel().catch(() => {});
      return { bytes: new Uint8Array(0), size: object.size, complete };
    }
    if (object.body instanceof Blob) return { bytes: new Uint8Array(await object.body.slice(start, end).arrayBuffer()), size: object.size, complete };
    const parts: Uint8Array[] = [];
    await scanStream(object.body, end, (chunk, at) => {
      if (at + chunk.byteLength > start) parts.push(chunk.subarray(Math.max(0, start - at)));
    });
    return { bytes: Buffer.concat(parts).subarray(0, end - start), size: object.size, complete };
  }
  const { bytes, size } = from.liveLogs.read(outputKey(jobId, taskId, attempt, stream), offset);
  return { bytes, size, complete };
}

/**
 * Hands `visit` the log's bytes in [0, end) in order, chunk by chunk, from
 * one read of wherever the log is: what counting a huge log's lines needs,
 * where readAttemptLog's 4 MiB slices would fetch a remote object once per
 * slice. `visit` returns true to stop early.
 */
export async function scanAttemptLog(
  from: LogSources, jobId: string, taskId: string, attempt: number, stream: "stdout" | "stderr", end: number, visit: (chunk: Uint8Array, at: number) => boolean | void,
): Promise<void> {
  const { object } = await locateLog(from, jobId, taskId, attempt, stream);
  if (object) {
    const body = object.body instanceof Blob ? object.body.slice(0, Math.min(end, object.size)).stream() : object.body;
    return scanStream(body, end, visit);
  }
  const key = outputKey(jobId, taskId, attempt, stream);
  for (let at = 0; at < end; ) {
    const { bytes } = from.liveLogs.read(key, at);
    if (bytes.byteLength === 0) return;
    const chunk = bytes.subarray(0, Math.min(bytes.byteLength, end - at));
    if (visit(chunk, at)) return;
    at += chunk.byteLength;
  }
}

/** Reads `body` up to byte `end` (then cancels it), handing each chunk and its offset to `visit`. */
async function scanStream(body: ReadableStream<Uint8Array>, end: number, visit: (chunk: Uint8Array, at: number) => boolean | void): Promise<void> {
  const reader = body.getReader();
  try {
    for (let at = 0; at < end; ) {
      const { done, value } = await reader.read();
      if (done) return;
      const chunk = value.subarray(0, Math.min(value.byteLength, end - at));
      if (visit(chunk, at)) return;
      at += chunk.byteLength;
    }
  } finally {
    await reader.cancel().catch(() => {});
  }
}
