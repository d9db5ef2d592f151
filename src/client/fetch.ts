import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { mapLimit } from "../common/concurrency.ts";
import { DtError } from "../common/errors.ts";
import type { Logger } from "../common/log.ts";
import { TERMINAL_STATES } from "../master/model.ts";
import type { AttemptView, TaskView } from "../master/protocol.ts";
import type { MasterClient } from "./api.ts";
import { extractZip } from "./unzip.ts";
import type { CasClient } from "../isolate/cas/client.ts";
import { downloadOutputs } from "../isolate/outputs/download-outputs.ts";

/** dist_test's safe(): every character but ASCII letters and digits becomes `_`. */
export function safe(text: string): string {
  return text.replace(/[^A-Za-z0-9]/g, "_");
}

/** `safe(task_id).safe(attempt).safe(description)`, dist_test's file prefix for one attempt's outputs. */
export function attemptPrefix(task: TaskView, attempt: AttemptView): string {
  return `${safe(task.task_id)}.${safe(String(attempt.attempt))}.${safe(task.description)}`;
}

export interface FetchOptions {
  api: MasterClient;
  tasks: readonly TaskView[];
  dir: string;
  logs: boolean;
  artifacts: boolean;
  /**
   * Download each attempt's outputs tree (what it left in ISOLATED_OUTDIR)
   * into `<dir>/<task>/<attempt>/`, through a client for the CAS the
   * attempt names. Absent: outputs are not fetched.
   */
  outputs?: { cas: (server: string) => CasClient };
  /** Only attempts that did not succeed, as dist_test's `/tasks?status=failed`. */
  failedOnly: boolean;
  concurrency: number;
  log: Logger;
}

export interface FetchResult {
  attempts: number;
  /** Logs and archives downloaded. */
  downloads: number;
  /** Files written by extracting archives. */
  extracted: number;
  /** Outputs trees downloaded, and the files and symlinks in them. */
  outputs: { trees: number; files: number };
}

interface Download {
  link: string;
  /** The same object through the master, when `link` points elsewhere (a presigned S3 URL). */
  fallback: string | null;
  file: string;
  /** For an archive: the directory it is extracted into. */
  extractTo?: string;
}

/**
 * The link, or when it fails (S3 unreachable from here, a link expired)
 * the master's link to the same object. The direct link is tried once:
 * with a fallback there, retrying it would only delay the answer.
 */
async function download(api: MasterClient, d: Download, log: Logger): Promise<Response> {
  if (!d.fallback) return api.download(d.link, `download ${d.file}`);
  try {
    return await api.download(d.link, `download ${d.file}`, 1);
  } catch (err) {
    log.warn(`${err instanceof Error ? err.message : String(err)}; fetching it through the master instead`);
    return api.download(d.fallback, `download ${d.file} through the master`);
  }
}

/** Where `fetch -o` puts an attempt's outputs tree: `<dir>/<task>/<attempt>/`, the task id made safe as dist_test's file names are. */
export function outputsDir(dir: string, task: TaskView, attempt: AttemptView): string {
  return join(dir, safe(task.task_id), String(attempt.attempt));
}

/** The finished attempts whose outputs `fetch` takes. */
export function attemptsToFetch(tasks: readonly TaskView[], failedOnly: boolean): { task: TaskView; attempt: AttemptView }[] {
  return tasks.flatMap((task) =>
    task.attempts.filter((a) => TERMINAL_STATES.has(a.state) && (!failedOnly || a.state !== "SUCCEEDED")).map((attempt) => ({ task, attempt })),
  );
}

/**
 * Downloads the logs (`.stdout`, `.stderr`) and artifact archives (`.zip`,
 * extracted into a directory of the same prefix) of finished attempts into
 * `dir`, several at once. Every download is tried; afterwards the first
 * failure is thrown with a count of the others.
 */
export async function fetchResults(options: FetchOptions): Promise<FetchResult> {
  const { api, dir, log } = options;
  const selected = attemptsToFetch(options.tasks, options.failedOnly);
  const downloads: Download[] = [];
  for (const { task, attempt } of selected) {
    const prefix = join(dir, attemptPrefix(task, attempt));
    // A master older than the master links sends none: then there is no fallback.
    const fallback = (master: string | null | undefined, link: string) => (master && master !== link ? master : null);
    if (options.logs && attempt.stdout_link) downloads.push({ link: attempt.stdout_link, fallback: fallback(attempt.stdout_master_link, attempt.stdout_link), file: `${prefix}.stdout` });
    if (options.logs && attempt.stderr_link) downloads.push({ link: attempt.stderr_link, fallback: fallback(attempt.stderr_master_link, attempt.stderr_link), file: `${prefix}.stderr` });
    if (options.artifacts && attempt.artifact_archive_link) {
      const link = attempt.artifact_archive_link;
      downloads.push({ link, fallback: fallback(attempt.artifact_archive_master_link, link), file: `${prefix}.zip`, extractTo: prefix });
    }
    else if (options.artifacts && attempt.artifact_missing) log.warn(`${task.description} attempt ${attempt.attempt}: the slave could not store its artifacts`);
  }
  const trees = options.outputs
    ? selected.filter(({ attempt }) => attempt.outputs_ref).map(({ task, attempt }) => ({ ref: attempt.outputs_ref!, dest: outputsDir(dir, task, attempt), what: `${task.description} attempt ${attempt.attempt}` }))
    : [];
  mkdirSync(dir, { recursive: true });
  log.info(`Fetching ${downloads.length} files${options.outputs ? ` and ${trees.length} outputs trees` : ""} of ${selected.length} attempts into ${dir}`);
  const failures: unknown[] = [];
  let extracted = 0;
  const outputs = { trees: 0, files: 0 };
  // One tree at a time: each fetches its blobs several at once already.
  for (const tree of trees) {
    try {
      const got = await downloadOutputs(options.outputs!.cas(tree.ref.isolatedserver), tree.ref.isolated, tree.dest);
      outputs.trees++;
      outputs.files += got.files + got.symlinks;
    } catch (err) {
      const message = `outputs of ${tree.what} from ${tree.ref.isolatedserver}: ${err instanceof Error ? err.message : String(err)}`;
      failures.push(err instanceof DtError ? new DtError(err.code, message, { cause: err }) : new Error(message));
      log.error(message);
    }
  }
  await mapLimit(downloads, options.concurrency, async (d) => {
    try {
      const res = await download(api, d, log);
      await Bun.write(d.file, res);
      if (d.extractTo) extracted += extractZip(await Bun.file(d.file).bytes(), d.extractTo, d.file);
    } catch (err) {
      failures.push(err);
      log.error(err instanceof Error ? err.message : String(err));
    }
  });
  if (failures.length > 0) {
    const first = failures[0];
    const message = first instanceof Error ? first.message : String(first);
    const others = failures.length > 1 ? ` (and ${failures.length - 1} more failures, logged above)` : "";
    throw new DtError(first instanceof DtError ? first.code : "unreachable", `${failures.length} of ${downloads.length + trees.length} downloads failed: ${message}${others}`, { cause: first });
  }
  return { attempts: selected.length, downloads: downloads.length, extracted, outputs };
}
