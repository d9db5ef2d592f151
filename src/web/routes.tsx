/** @jsxImportSource hono/jsx */
import { Hono } from "hono";
import { DtError, isDtError } from "../common/errors.ts";
import { SMALL_FORM_BYTES, attemptParam, noCache, requestParams, requireParam } from "../master/http/cherrypy.ts";
import type { Master } from "../master/master.ts";
import { indexPage } from "./index-route.tsx";
import { NoTasksPage } from "./job/job-page.tsx";
import { jobRoute } from "./job/job-route.tsx";
import { JobPageCache } from "./job/page-data.ts";
import { Page, sendPage } from "./layout.tsx";
import { LOG_MESSAGES } from "./log-pages.tsx";
import { logPage } from "./log-route.tsx";
import { catapultTrace, TracePage } from "./trace-page.tsx";
import { OutputsPage } from "./outputs-page.tsx";
import { checkBytesMatch } from "../isolate/digest.ts";
import { type IsolatedEntry, parseIsolated } from "../isolate/manifest.ts";
import type { OutputsRef } from "../isolate/outputs/outputs-ref.ts";
import { DEFAULT_MAX_OUTPUTS_FILES } from "../isolate/outputs/upload-outputs.ts";

/** Both of dist_test's methods: CherryPy's handlers answered either. */
const METHODS = ["GET", "POST"];

/**
 * dist_test's HTML views, for people: `/` (what gce-autoscale.py scraped),
 * `/job`, `/trace`, `/view_log`, and dt's live `/log`. Mounted at "/"
 * through distTestRoutes. Every value in a page is escaped by the JSX.
 */
export function webRoutes(master: Master): Hono {
  const app = new Hono();

  app.on(METHODS, "/", noCache, (c) => indexPage(c, master));

  const jobPages = new JobPageCache(master);
  app.on(METHODS, "/job", noCache, (c) => jobRoute(c, master, jobPages));

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
    const seconds = (name: string) => {
      const text = params.get(name);
      if (text === undefined || text === null || text === "") return undefined;
      const value = Number(text);
      if (!Number.isFinite(value) || value < 0) throw new DtError("invalid_input", `${name} must be a number of seconds since the job's first queued attempt, got ${JSON.stringify(text.slice(0, 40))}`);
      return value;
    };
    return sendPage(c, <TracePage jobId={jobId} tasks={found.tasks} now={master.deps.clock.now()} window={{ fromSec: seconds("from"), toSec: seconds("to") }} />);
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
