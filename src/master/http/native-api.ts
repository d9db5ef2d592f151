import { streamTasks, taskPageParams } from "./task-pages.ts";
import { Hono } from "hono";
import { DtError } from "../../common/errors.ts";
import { readBodyLimited } from "../../common/http.ts";
import { parseStrictJson } from "../../common/strict-json.ts";
import { type Master, MAX_TROUBLES } from "../master.ts";
import { caseRoutes } from "./case-api.ts";
import { binaryHistoryRoutes } from "./binary-history-api.ts";
import { quarantineRoutes } from "./quarantine-api.ts";
import { flakyRoutes } from "./flaky-api.ts";
import type { JobFilter } from "../repo/repo.ts";

/** A 100,000-task job is about 25 MB of JSON. */
const MAX_JOB_BYTES = 64 * 2 ** 20;

function epochMs(value: string | undefined, what: string): number | undefined {
  if (value === undefined || value === "") return undefined;
  const n = /^\d+$/.test(value) ? Number(value) : Date.parse(value);
  if (!Number.isFinite(n)) throw new DtError("invalid_input", `${what} must be epoch milliseconds or an ISO date, got ${JSON.stringify(value)}`);
  return n;
}

/** An instruction's body is a reason of a line or two. */
const MAX_COMMAND_BYTES = 16 * 2 ** 10;

/** The operator's reason from `{"reason": "..."}`; an empty body gets a plain one. */
function reasonOf(body: Uint8Array, action: string): string {
  const text = new TextDecoder().decode(body).trim();
  if (text === "") return `${action} by an operator`;
  const parsed = parseStrictJson(text, { what: `POST slaves/:name/${action} body` });
  if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) throw new DtError("invalid_input", `POST slaves/:name/${action}: the body must be {"reason": "..."} or empty`);
  const { reason, ...rest } = parsed as Record<string, unknown>;
  const unknown = Object.keys(rest);
  if (unknown.length > 0) throw new DtError("invalid_input", `POST slaves/:name/${action}: unknown field ${JSON.stringify(unknown[0])}; the body is {"reason": "..."}`);
  if (reason === undefined) return `${action} by an operator`;
  if (typeof reason !== "string" || reason.length > 2000) throw new DtError("invalid_input", `POST slaves/:name/${action}: reason must be a string of at most 2000 characters`);
  return reason;
}

function attemptNumber(value: string | undefined): number {
  const n = Number(value ?? "0");
  if (!Number.isSafeInteger(n) || n < 0) throw new DtError("invalid_input", "attempt must be a non-negative integer");
  return n;
}

/** A change_version is `<boot id>.<count>`; anything much longer is not one. */
const MAX_VERSION_LENGTH = 64;

/** The long-poll's query; wait_ms alone is refused, as it would never be held. */
function waitOf(version: string | undefined, ms: string | undefined): { version: string; ms: number } | undefined {
  if (version === undefined) {
    if (ms !== undefined) throw new DtError("invalid_input", "wait_ms needs wait_version: pass the change_version of the summary you have");
    return undefined;
  }
  if (version === "" || version.length > MAX_VERSION_LENGTH) throw new DtError("invalid_input", `wait_version must be the change_version of a summary (1 to ${MAX_VERSION_LENGTH} characters)`);
  const n = ms === undefined ? 0 : Number(ms);
  if (ms === "" || !Number.isSafeInteger(n) || n < 0) throw new DtError("invalid_input", `wait_ms must be a non-negative integer of milliseconds, got ${JSON.stringify(ms)}`);
  return { version, ms: n };
}

/** The native JSON API of protocol.ts, under /api/v1 (the slave protocol is mounted beside it). */
export function nativeRoutes(master: Master): Hono {
  const app = new Hono();

  app.post("/jobs", async (c) => {
    const bytes = await readBodyLimited(c.req.raw, MAX_JOB_BYTES, "POST jobs");
    // Strict: a repeated key (two "timeout"s) is refused rather than read as the last one.
    const body = parseStrictJson(new TextDecoder().decode(bytes), { what: "POST jobs body" });
    return c.json(await master.submitJob(body), 201);
  });

  app.get("/jobs", async (c) => {
    const limit = c.req.query("limit");
    const filter: JobFilter = {
      user: c.req.query("user") || undefined,
      name: c.req.query("name") || undefined,
      since: epochMs(c.req.query("since"), "since"),
      until: epochMs(c.req.query("until"), "until"),
      limit: limit === undefined ? undefined : Number(limit),
    };
    if (filter.limit !== undefined && (!Number.isInteger(filter.limit) || filter.limit < 1 || filter.limit > 1000)) {
      throw new DtError("invalid_input", "limit must be an integer from 1 to 1000");
    }
    return c.json({ jobs: await master.listJobs(filter) });
  });

  // ?wait_version=V&wait_ms=M: held until the job's change_version differs from V (a long-poll); without them, at once.
  app.get("/jobs/:job", async (c) => {
    const jobId = c.req.param("job");
    const wait = waitOf(c.req.query("wait_version"), c.req.query("wait_ms"));
    return c.json(wait ? await master.jobSummaryAfter(jobId, wait.version, wait.ms, c.req.raw.signal) : await master.jobSummary(jobId));
  });
  // ?limit=N[&cursor=C]: a page of the tasks, with next_cursor. ?trouble_since=MS[&limit=N]: only tasks with an attempt that ended in trouble (not SUCCEEDED or CANCELED) at MS or later,
  // earliest first, at most N (default and most MAX_TROUBLES); `more` says some were left off.
  app.get("/jobs/:job/tasks", async (c) => {
    const since = c.req.query("trouble_since");
    const limit = c.req.query("limit");
    if (since === undefined) {
      // ?limit=N[&cursor=C]: a page and where the next starts (dt's client pages); without them every task, streamed a page at a time.
      const page = taskPageParams(limit, c.req.query("cursor"));
      if (!page) return streamTasks(c, master, c.req.param("job"), '{"tasks":[', "]}", (_job, tasks) => tasks);
      const found = await master.jobTasksPage(c.req.param("job"), page.from, page.limit);
      return c.json({ tasks: found.tasks, next_cursor: found.next === null ? null : String(found.next) });
    }
    const ms = Number(since);
    if (since === "" || !Number.isSafeInteger(ms) || ms < 0) throw new DtError("invalid_input", `trouble_since must be epoch milliseconds (a non-negative integer), got ${JSON.stringify(since)}`);
    const n = limit === undefined ? MAX_TROUBLES : Number(limit);
    if (limit === "" || !Number.isSafeInteger(n) || n < 1 || n > MAX_TROUBLES) throw new DtError("invalid_input", `limit must be an integer from 1 to ${MAX_TROUBLES}, got ${JSON.stringify(limit)}`);
    return c.json(await master.jobTroubles(c.req.param("job"), ms, n));
  });
  app.route("/", caseRoutes(master));
  app.route("/", binaryHistoryRoutes(master));
  app.route("/", quarantineRoutes(master));
  app.route("/", flakyRoutes(master));
  app.post("/jobs/:job/cancel", async (c) => c.json(await master.cancelJob(c.req.param("job"))));

  app.get("/jobs/:job/log", async (c) => {
    const task = c.req.query("task");
    const stream = c.req.query("stream") ?? "stdout";
    if (!task) throw new DtError("invalid_input", "the query must name the task: ?task=<task_id>&attempt=N&stream=stdout");
    if (stream !== "stdout" && stream !== "stderr") throw new DtError("invalid_input", "stream must be stdout or stderr");
    const offset = Number(c.req.query("offset") ?? "0");
    if (!Number.isSafeInteger(offset) || offset < 0) throw new DtError("invalid_input", "offset must be a non-negative integer");
    const log = await master.readLog(c.req.param("job"), task, attemptNumber(c.req.query("attempt")), stream, offset);
    return new Response(log.bytes, {
      headers: { "Content-Type": "text/plain; charset=utf-8", "X-Log-Size": String(log.size), "X-Log-Complete": String(log.complete), "Cache-Control": "no-cache" },
    });
  });

  app.get("/slaves", (c) => c.json({ slaves: master.slaves() }));
  app.get("/slaves/:name", (c) => c.json(master.slave(c.req.param("name"))));
  for (const action of ["drain", "quarantine", "resume"] as const) {
    app.post(`/slaves/:name/${action}`, async (c) => {
      const body = await readBodyLimited(c.req.raw, MAX_COMMAND_BYTES, `POST slaves/:name/${action}`);
      const reason = reasonOf(body, action);
      return c.json(master.commandSlave(c.req.param("name"), { action, reason }), 202);
    });
  }

  app.get("/artifacts/:key", async (c) => {
    const key = c.req.param("key");
    const object = await master.deps.artifacts.get(key);
    if (!object) throw new DtError("not_found", `no artifact ${JSON.stringify(key)}`);
    const type = key.endsWith(".zip") ? "application/zip" : "text/plain; charset=utf-8";
    return new Response(object.body, { headers: { "Content-Type": type, "Content-Length": String(object.size) } });
  });

  return app;
}
