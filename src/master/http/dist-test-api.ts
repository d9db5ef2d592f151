import { type Context, Hono } from "hono";
import type { Job } from "../model.ts";
import type { TaskView } from "../protocol.ts";
import { streamTasks } from "./task-pages.ts";
import { DtError, isDtError } from "../../common/errors.ts";
import { errorBody, httpStatusOf } from "../../common/http.ts";
import { parseStrictJson } from "../../common/strict-json.ts";
import { API_ROW_FILTERS, ROW_FILTERS, type RowFilter, isRowFilter, taskRows } from "../../web/task-rows.ts";
import { webRoutes } from "../../web/routes.tsx";
import { slavesPageRoutes } from "../../web/slaves-page.tsx";
import { flakyPageRoutes } from "../../web/flaky-page.tsx";
import { faviconRoutes } from "../../web/favicon.ts";
import { type ValidJob, validateJobRequest } from "../jobs/job-request.ts";
import type { Master } from "../master.ts";
import { SMALL_FORM_BYTES, noCache, requestParams, requireParam } from "./cherrypy.ts";

/** A 100,000-task job is about 25 MB of JSON, form-encoded a little more; as the native API. */
const MAX_JOB_FORM_BYTES = 64 * 2 ** 20;

/** Both of dist_test's methods: CherryPy's handlers answered either. */
const METHODS = ["GET", "POST"];
const SUCCESS = { status: "SUCCESS" } as const;

/** One row of dist_test's `/tasks`: an attempt, with links only to what was stored. */
export interface DistTestTaskRecord {
  task_id: string;
  attempt: number;
  description: string;
  stdout_link?: string;
  stderr_link?: string;
  artifact_archive_link?: string;
}

const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === "object" && !Array.isArray(v);

function parseJsonField(value: string, field: string): Record<string, unknown> {
  const parsed = parseStrictJson(value, { what: field, root: field });
  if (!isObject(parsed)) throw new DtError("invalid_input", `${field} must be a JSON object`);
  return parsed;
}

/**
 * The user and name in dist_test's job ids, `[NAME.]<user>.<unix_ts>.<pid>`,
 * so that jobs from dist_test's client get their user's fair share rather
 * than all sharing one "anonymous".
 */
export function jobIdOwner(jobId: string): { user?: string; name?: string } {
  const parts = jobId.split(".");
  if (parts.length < 3 || !/^\d+$/.test(parts.at(-1)!) || !/^\d+$/.test(parts.at(-2)!) || parts.at(-3) === "") return {};
  const name = parts.slice(0, -3).join(".");
  return { user: parts.at(-3), name: name === "" ? undefined : name };
}

/**
 * `job_id` and `job_json` as one JobRequest, checked here so that a problem
 * inside job_json names it (`job_json.tasks[0].isolate_hash: …`).
 */
function jobRequest(jobId: string, jobJson: string): ValidJob {
  const job = parseJsonField(jobJson, "job_json");
  // The form's job_id is the job's, whatever job_json says, as in dist_test.
  const request = { ...job, job_id: jobId, name: job.name ?? jobIdOwner(jobId).name };
  try {
    return validateJobRequest(request);
  } catch (err) {
    if (isDtError(err, "invalid_input") && !err.message.startsWith("job_id:")) {
      // `tasks[0].timeout: …` becomes `job_json.tasks[0].timeout: …`; `["a b"]: …` becomes `job_json["a b"]: …`.
      throw new DtError("invalid_input", `job_json${err.message.startsWith("[") ? "" : "."}${err.message}`, { cause: err });
    }
    throw err;
  }
}

/** A page of tasks as dist_test's task records: one per attempt, `filter`ed as its `status=` was. */
function taskRecords(job: Job, tasks: TaskView[], filter: RowFilter | null): DistTestTaskRecord[] {
  const rows = taskRows(job, tasks);
  return (filter ? rows.filter(ROW_FILTERS[filter]) : rows).map(({ task, attempt: a }) => ({
    task_id: task.task_id,
    attempt: a.attempt,
    description: task.description,
    ...(a.stdout_link ? { stdout_link: a.stdout_link } : {}),
    ...(a.stderr_link ? { stderr_link: a.stderr_link } : {}),
    ...(a.artifact_archive_link ? { artifact_archive_link: a.artifact_archive_link } : {}),
  }));
}

/** dist_test's `/tasks` answer: every record, streamed a page of tasks at a time; an unknown job has none, as dist_test selected rows by job id. */
async function streamTaskRecords(c: Context, master: Master, jobId: string, filter: RowFilter | null): Promise<Response> {
  try {
    return await streamTasks(c, master, jobId, "[", "]", (job, tasks) => taskRecords(job, tasks, filter));
  } catch (err) {
    if (isDtError(err, "not_found")) return c.json([]);
    throw err;
  }
}

/**
 * dist_test's master API (infra/server.py), path for path, so that its
 * client, its slaves' calls and scripts that scrape its pages keep working:
 * `/submit_job`, `/cancel_job`, `/retry_task`, `/job_status`, `/tasks`,
 * `/failed_tasks`, and through webRoutes `/`, `/job`, `/trace`, `/view_log`
 * (and dt's `/log`), and dt's `/slaves`, `/flaky` and icon. Mounted at "/". Query parameters and form fields are
 * interchangeable, as in CherryPy. Errors are dt's JSON `{error, code}` with
 * a 4xx status, except where dist_test's client expects its own shapes.
 *
 * @example
 *   masterApp({ master, log, mounts: [{ prefix: "/", app: distTestRoutes(master) }] });
 *   // POST /submit_job  job_id=alice.1700000000.42&job_json=%7B%22tasks%22%3A...  → {"status":"SUCCESS"}
 */
export function distTestRoutes(master: Master): Hono {
  const app = new Hono();
  app.onError((err, c) => {
    const status = httpStatusOf(err);
    if (status >= 500) master.deps.log.error(`${c.req.method} ${c.req.path} failed`, err);
    return c.json(errorBody(err), status);
  });

  // A bad job got a CherryPy 500 HTML page from dist_test. dt answers 400 with
  // JSON naming the field; dist_test's client fails on any non-2xx either way.
  app.on(METHODS, "/submit_job", noCache, async (c) => {
    const params = await requestParams(c, MAX_JOB_FORM_BYTES);
    const jobId = requireParam(params, "job_id");
    const valid = jobRequest(jobId, requireParam(params, "job_json"));
    await master.submitValidJob(valid, { user: jobIdOwner(jobId).user });
    return c.json(SUCCESS);
  });

  // dist_test's client cancels with a GET. An unknown job is a 404 here: dist_test
  // said SUCCESS to any id, so a mistyped id looked canceled.
  app.on(METHODS, "/cancel_job", noCache, async (c) => {
    await master.cancelJob(requireParam(await requestParams(c, SMALL_FORM_BYTES), "job_id"));
    return c.json(SUCCESS);
  });

  // dist_test's slaves asked for their own retries. dt's dispatcher retries by
  // itself and decides from its records, not from the attempt and max_retries
  // the caller sends; asking again, or for a task with nothing to retry, changes
  // nothing. Always SUCCESS for a well-formed request, as dist_test answered.
  app.on(METHODS, "/retry_task", noCache, async (c) => {
    const task = parseJsonField(requireParam(await requestParams(c, SMALL_FORM_BYTES), "task_json"), "task_json");
    for (const field of ["job_id", "task_id"] as const) {
      if (typeof task[field] !== "string" || task[field] === "") throw new DtError("invalid_input", `task_json.${field} must be a non-empty string`);
    }
    const jobId = task.job_id as string;
    const taskId = task.task_id as string;
    const retried = await master.retryTask(jobId, taskId).catch((err) => (isDtError(err, "not_found") ? false : Promise.reject(err)));
    master.deps.log.debug(`retry_task ${jobId} ${taskId}: ${retried ? "queued another attempt" : "nothing to retry"}`, { job_id: jobId, task_id: taskId });
    return c.json(SUCCESS);
  });

  // An unknown job is dist_test's error object with HTTP 200; its client then
  // crashes on the missing "status" (a bug of that client, which dt's does not share).
  app.on(METHODS, "/job_status", noCache, async (c) => {
    const jobId = requireParam(await requestParams(c, SMALL_FORM_BYTES), "job_id");
    const status = await master.distTestStatus(jobId);
    return c.json(status ?? { error: `Did not fetch any tasks for specified job_id ${jobId}` });
  });

  app.on(METHODS, "/tasks", noCache, async (c) => {
    const params = await requestParams(c, SMALL_FORM_BYTES);
    const jobId = requireParam(params, "job_id");
    const status = params.get("status");
    // dist_test's own answer to a bad status, with HTTP 200.
    if (status !== undefined && !isRowFilter(status, API_ROW_FILTERS)) return c.json({ error: `Unknown status type ${status}` });
    return streamTaskRecords(c, master, jobId, status ?? null);
  });

  // Deprecated in dist_test already; its client's `fetch --failed-only` used it.
  app.on(METHODS, "/failed_tasks", noCache, async (c) => {
    const jobId = requireParam(await requestParams(c, SMALL_FORM_BYTES), "job_id");
    return streamTaskRecords(c, master, jobId, "failed");
  });

  app.route("/", webRoutes(master));
  app.route("/", slavesPageRoutes(master));
  app.route("/", flakyPageRoutes(master));
  app.route("/", faviconRoutes());
  return app;
}
