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

export async function readAttemptLog(from: LogSources, jobId: string, taskId: string, attempt: number, stream: "stdout" | "stderr", offset: number): Promise<{ bytes: Uint8Array; size: number; complete: boolean }> {
  const a = await from.repo.getAttempt(jobId, taskId, attempt);
  if (!a) throw new DtError("not_found", `no attempt ${attempt} of task ${taskId} in job ${jobId}`);
  const complete = TERMINAL_STATES.has(a.state);
  const uploaded = stream === "stdout" ? a.stdoutKey : a.stderrKey;
  if (complete && uploaded) {
    const object = await from.artifacts.get(uploaded);
    if (object) {
      const start = Math.min(offset, object.size);
      const end = Math.min(object.size, start + MAX_LOG_READ_BYTES);
      // A file-backed object is read for the slice asked only; a stream (a remote store) as it comes.
      const part = object.body instanceof Blob ? object.body.slice(start, end) : new Response(object.body);
      const bytes = new Uint8Array(await part.arrayBuffer());
      return { bytes: object.body instanceof Blob ? bytes : bytes.subarray(start, end), size: object.size, complete };
    }
  }
  const { bytes, size } = from.liveLogs.read(outputKey(jobId, taskId, attempt, stream), offset);
  return { bytes, size, complete };
}
