import { afterAll, afterEach, beforeAll, describe, expect, test } from "bun:test";
import { distTestRoutes, jobIdOwner } from "../../src/master/http/dist-test-api.ts";
import { outputKey } from "../../src/master/protocol.ts";
import {
  HOSTILE_DESCRIPTION, JOBS, type MasterFixture, PUBLIC_URL, type Scenarios, buildScenarios, call, drive, hashOf, logText, preText, makeMaster, postForm, submit, withQuery,
} from "../web/fixture.ts";

const NO_CACHE = { "cache-control": "no-cache, no-store", pragma: "no-cache", expires: "Sat, 01 Jan 1970 00:00:00 GMT" };

function expectNoCache(res: Response): void {
  for (const [name, value] of Object.entries(NO_CACHE)) expect(res.headers.get(name)).toBe(value);
}

/** A 4xx answered with dt's JSON error, whose message names `field`. */
async function expectJsonError(res: Response, status: number, field: string): Promise<void> {
  expect(res.status).toBe(status);
  expect(res.headers.get("content-type")).toStartWith("application/json");
  const body = (await res.json()) as { error: string; code: string };
  expect(body.error).toContain(field);
  expect(typeof body.code).toBe("string");
}

const link = (jobId: string, taskId: string, attempt: number, kind: "stdout" | "stderr" | "artifacts") =>
  `${PUBLIC_URL}/api/v1/artifacts/${encodeURIComponent(outputKey(jobId, taskId, attempt, kind))}`;

/** The /tasks record of an attempt that ran: both logs, and the archive when it passed. */
const record = (jobId: string, taskId: string, attempt: number, description: string, passed: boolean) => ({
  task_id: taskId, attempt, description,
  stdout_link: link(jobId, taskId, attempt, "stdout"), stderr_link: link(jobId, taskId, attempt, "stderr"),
  ...(passed ? { artifact_archive_link: link(jobId, taskId, attempt, "artifacts") } : {}),
});

describe("dist_test's API over jobs in every state", () => {
  let fx: MasterFixture;
  let s: Scenarios;
  beforeAll(async () => {
    fx = await makeMaster();
    s = await buildScenarios(fx);
  });
  afterAll(() => fx.close());

  const status = async (jobId: string) => {
    const res = await call(fx, withQuery("/job_status", { job_id: jobId }));
    expect(res.status).toBe(200);
    expectNoCache(res);
    return res.json();
  };

  test("job_status of a finished job with passed, failed, flaky and timed-out groups", async () => {
    expect(await status(JOBS.mixed)).toEqual({
      total_tasks: 6, finished_tasks: 6, running_tasks: 0, retried_tasks: 1, timedout_tasks: 1, failed_tasks: 3, succeeded_tasks: 3,
      total_groups: 5, finished_groups: 5, failed_groups: 2, succeeded_groups: 3, flaky_groups: 1, flaky_tasks: 1, status: "finished",
    });
  });

  test("job_status of a canceled job reads finished at once, retries left or not (dist_test hung in running)", async () => {
    expect(await status(JOBS.canceled)).toEqual({
      total_tasks: 3, finished_tasks: 3, running_tasks: 0, retried_tasks: 0, timedout_tasks: 0, failed_tasks: 3, succeeded_tasks: 0,
      total_groups: 3, finished_groups: 3, failed_groups: 3, succeeded_groups: 0, flaky_groups: 0, flaky_tasks: 0, status: "finished",
    });
  });

  test("job_status while a failure's retry is queued: flaky, not finished", async () => {
    expect(await status(JOBS.retrying)).toEqual({
      total_tasks: 2, finished_tasks: 1, running_tasks: 1, retried_tasks: 1, timedout_tasks: 0, failed_tasks: 1, succeeded_tasks: 0,
      total_groups: 1, finished_groups: 0, failed_groups: 0, succeeded_groups: 0, flaky_groups: 1, flaky_tasks: 1, status: "running",
    });
    expect(await status(JOBS.live)).toMatchObject({ total_tasks: 1, running_tasks: 1, finished_groups: 0, status: "running" });
  });

  test("job_status of an unknown job is dist_test's error object with HTTP 200", async () => {
    expect(await status("nobody.1.2")).toEqual({ error: "Did not fetch any tasks for specified job_id nobody.1.2" });
  });

  test("tasks lists every attempt, with links only to what was stored", async () => {
    const [pass, fail, flaky, slow, hostile] = s.taskIds.mixed;
    const j = JOBS.mixed;
    const all = [
      record(j, pass!, 0, "pass", true), record(j, fail!, 0, "fail", false), record(j, flaky!, 0, "flaky", false), record(j, flaky!, 1, "flaky", true),
      record(j, slow!, 0, "slow", false), record(j, hostile!, 0, HOSTILE_DESCRIPTION, true),
    ];
    const tasks = async (query: Record<string, string>, path = "/tasks") => {
      const res = await call(fx, withQuery(path, { job_id: j, ...query }));
      expect(res.status).toBe(200);
      expectNoCache(res);
      return res.json();
    };
    expect(await tasks({})).toEqual(all);
    expect(await tasks({ status: "failed" })).toEqual([all[1], all[2], all[4]]);
    expect(await tasks({ status: "succeeded" })).toEqual([all[0], all[3], all[5]]);
    expect(await tasks({ status: "finished" })).toEqual(all);
    expect(await tasks({}, "/failed_tasks")).toEqual([all[1], all[2], all[4]]);
  });

  test("tasks: attempts that never ran have no links; canceled and queued ones are filtered as dist_test did", async () => {
    const canceled = (await (await call(fx, withQuery("/tasks", { job_id: JOBS.canceled, status: "failed" }))).json()) as unknown[];
    expect(canceled).toHaveLength(3);
    for (const row of canceled) expect(Object.keys(row as object).sort()).toEqual(["attempt", "description", "task_id"]);
    const retrying = await (await call(fx, withQuery("/tasks", { job_id: JOBS.retrying, status: "finished" }))).json();
    expect(retrying).toEqual([record(JOBS.retrying, s.taskIds.retrying[0]!, 0, "again", false)]);
    const all = await (await call(fx, withQuery("/tasks", { job_id: JOBS.retrying }))).json();
    expect(all).toEqual([record(JOBS.retrying, s.taskIds.retrying[0]!, 0, "again", false), { task_id: s.taskIds.retrying[0], attempt: 1, description: "again" }]);
  });

  test("tasks: a bad status is dist_test's error object; an unknown job has no rows", async () => {
    for (const bad of ["bogus", "", "FAILED", "<b>"]) {
      const res = await call(fx, withQuery("/tasks", { job_id: JOBS.mixed, status: bad }));
      expect(res.status).toBe(200);
      expect(await res.json()).toEqual({ error: `Unknown status type ${bad}` });
    }
    expect(await (await call(fx, withQuery("/tasks", { job_id: "nobody.1.2" }))).json()).toEqual([]);
    expect(await (await call(fx, withQuery("/failed_tasks", { job_id: "nobody.1.2" }))).json()).toEqual([]);
  });

  test("view_log answers the log HTML-escaped in a <pre>, without no-cache headers", async () => {
    const failTask = s.taskIds.mixed[1]!;
    const res = await call(fx, withQuery("/view_log", { job_id: JOBS.mixed, task_id: failTask, attempt: 0, log: "stderr" }));
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toStartWith("text/html");
    expect(res.headers.get("cache-control")).toBeNull();
    const html = await res.text();
    // The log's text is the <pre id="log">'s, each line escaped; the line numbers around it are CSS, not text.
    const text = logText({ description: "fail", attempt: 0 }, "stderr");
    expect(preText(html)).toBe(text);
    for (const line of text.split("\n")) expect(html).toContain(Bun.escapeHTML(line));
    expect(html).not.toContain("<script>");
  });

  test("view_log: dist_test's messages for an unknown attempt and an unknown log type", async () => {
    const task = s.taskIds.mixed[0]!;
    const noTask = await call(fx, withQuery("/view_log", { job_id: JOBS.mixed, task_id: task, attempt: 7, log: "stdout" }));
    expect(noTask.status).toBe(404);
    expect(await noTask.text()).toBe("Could not find requested task");
    const hostileJob = await call(fx, withQuery("/view_log", { job_id: `x"><script>alert(1)</script>`, task_id: task, attempt: 0, log: "stdout" }));
    expect(await hostileJob.text()).toBe("Could not find requested task");
    const badLog = await call(fx, withQuery("/view_log", { job_id: JOBS.mixed, task_id: task, attempt: 0, log: "syslog" }));
    expect(badLog.status).toBe(400);
    expect(await badLog.text()).toBe("Unknown log type");
  });

  test("every endpoint but view_log sends dist_test's no-cache headers, errors included", async () => {
    const task = s.taskIds.mixed[0]!;
    const paths = [
      "/", withQuery("/job", { job_id: JOBS.mixed }), withQuery("/job", { job_id: "nobody.1.2" }), withQuery("/trace", { job_id: JOBS.trace }),
      withQuery("/trace", { job_id: JOBS.trace, format: "json" }), withQuery("/job_status", { job_id: JOBS.mixed }), withQuery("/tasks", { job_id: JOBS.mixed }),
      withQuery("/failed_tasks", { job_id: JOBS.mixed }), withQuery("/log", { job_id: JOBS.live, task_id: s.taskIds.live[0]!, attempt: 0, log: "stdout" }),
      "/job_status", "/tasks", "/submit_job", "/cancel_job", "/retry_task", withQuery("/cancel_job", { job_id: "nobody.1.2" }),
    ];
    for (const path of paths) expectNoCache(await call(fx, path));
    const view = await call(fx, withQuery("/view_log", { job_id: JOBS.mixed, task_id: task, attempt: 0, log: "stdout" }));
    expect(view.headers.get("pragma")).toBeNull();
  });

  test("the master's other routes are untouched by the mount at /", async () => {
    const health = await call(fx, "/healthz");
    expect(await health.json()).toEqual({ ok: true });
    expect(health.headers.get("cache-control")).toBeNull();
    const native = await call(fx, `/api/v1/jobs/${JOBS.mixed}`);
    expect(((await native.json()) as { job_id: string }).job_id).toBe(JOBS.mixed);
    const missing = await call(fx, "/no/such/page");
    expect(missing.status).toBe(404);
  });

  test("POST form fields and GET query parameters are interchangeable, in both encodings", async () => {
    const viaForm = await postForm(fx, "/job_status", { job_id: JOBS.mixed });
    const multipart = new FormData();
    multipart.set("job_id", JOBS.mixed);
    const viaMultipart = await call(fx, "/job_status", { method: "POST", body: multipart });
    const viaGet = await call(fx, withQuery("/job_status", { job_id: JOBS.mixed }));
    const expected = await viaGet.json();
    expect(await viaForm.json()).toEqual(expected);
    expect(await viaMultipart.json()).toEqual(expected);
    // A body field wins over the query's.
    expect(await (await postForm(fx, withQuery("/job_status", { job_id: "nobody.1.2" }), { job_id: JOBS.mixed })).json()).toEqual(expected);
  });

  test("distTestRoutes answers on its own, without masterApp", async () => {
    const app = distTestRoutes(fx.master);
    const res = await app.request(new Request(`${PUBLIC_URL}${withQuery("/job_status", { job_id: JOBS.mixed })}`));
    expect(((await res.json()) as { status: string }).status).toBe("finished");
    await expectJsonError(await app.request(new Request(`${PUBLIC_URL}/job_status`)), 400, "job_id");
  });
});

describe("dist_test's writes", () => {
  let fx: MasterFixture;
  afterEach(() => fx.close());

  const jobJson = (tasks: unknown[]) => JSON.stringify({ tasks });
  const task = (description: string, extra: Record<string, unknown> = {}) => ({ isolate_hash: hashOf(description), description, ...extra });

  test("submit_job takes the form dist_test's client posts and derives user and name from the job id", async () => {
    fx = await makeMaster();
    const jobId = "nightly.dave.1700000000.4242";
    const json = jobJson([task("a <b>", { timeout: 930, max_retries: 2, artifact_archive_globs: ["build/*/test-logs/**/*"] }), task("b & c")]);
    // urllib.urlencode: spaces as '+', everything else percent-encoded.
    const body = `job_id=${encodeURIComponent(jobId)}&job_json=${encodeURIComponent(json).replace(/%20/g, "+")}`;
    const res = await call(fx, "/submit_job", { method: "POST", headers: { "Content-Type": "application/x-www-form-urlencoded" }, body });
    expect(res.status).toBe(200);
    expectNoCache(res);
    expect(await res.json()).toEqual({ status: "SUCCESS" });
    const summary = await fx.master.jobSummary(jobId);
    expect({ user: summary.user, name: summary.name, tasks: summary.counts.total_tasks }).toEqual({ user: "dave", name: "nightly", tasks: 2 });
    const tasks = await fx.master.deps.repo.getTasks(jobId);
    expect(tasks.map((t) => [t.taskId, t.description, t.timeoutSec, t.maxRetries, t.artifactGlobs])).toEqual([
      [`${hashOf("a <b>")}.0`, "a <b>", 930, 2, ["build/*/test-logs/**/*"]],
      [`${hashOf("b & c")}.1`, "b & c", 0, 0, []],
    ]);
    expect(await (await call(fx, withQuery("/job_status", { job_id: jobId }))).json()).toMatchObject({ total_tasks: 2, running_tasks: 2, status: "running" });
  });

  test("submit_job also takes multipart (a file field included) and GET", async () => {
    fx = await makeMaster();
    const form = new FormData();
    form.set("job_id", "alice.1700000000.1");
    form.set("job_json", new Blob([jobJson([task("one")])]), "tasks.json");
    expect(await (await call(fx, "/submit_job", { method: "POST", body: form })).json()).toEqual({ status: "SUCCESS" });
    expect(await (await call(fx, withQuery("/submit_job", { job_id: "bob.1700000000.2", job_json: jobJson([task("two")]) }))).json()).toEqual({ status: "SUCCESS" });
    expect((await fx.master.jobSummary("alice.1700000000.1")).user).toBe("alice");
    expect((await fx.master.jobSummary("bob.1700000000.2")).counts.total_tasks).toBe(1);
  });

  test("submit_job refuses a bad job with 400 JSON naming the field, and stores nothing", async () => {
    fx = await makeMaster();
    const good = jobJson([task("ok")]);
    const cases: [Record<string, string>, string][] = [
      [{ job_json: good }, "job_id"],
      [{ job_id: "x.1.2" }, "job_json"],
      [{ job_id: "x.1.2", job_json: "{not json" }, "job_json"],
      [{ job_id: "x.1.2", job_json: "[1,2]" }, "job_json"],
      [{ job_id: "x.1.2", job_json: "{}" }, "job_json.tasks"],
      [{ job_id: "x.1.2", job_json: jobJson([]) }, "job_json.tasks"],
      [{ job_id: "x.1.2", job_json: jobJson([{ isolate_hash: "abc", description: "d" }]) }, "job_json.tasks[0].isolate_hash"],
      [{ job_id: "x.1.2", job_json: jobJson([task("ok"), { isolate_hash: hashOf("x") }]) }, "job_json.tasks[1].description"],
      [{ job_id: "x.1.2", job_json: jobJson([task("ok", { max_retries: -1 })]) }, "job_json.tasks[0].max_retries"],
      [{ job_id: `x"><script>alert(1)</script>`, job_json: good }, "job_id"],
      [{ job_id: "../../etc/passwd", job_json: good }, "job_id"],
    ];
    for (const [fields, field] of cases) {
      const res = await postForm(fx, "/submit_job", fields);
      expectNoCache(res);
      await expectJsonError(res, 400, field);
    }
    expect(await fx.master.listJobs({})).toEqual([]);
    expect(await (await postForm(fx, "/submit_job", { job_id: "x.1.2", job_json: good })).json()).toEqual({ status: "SUCCESS" });
    await expectJsonError(await postForm(fx, "/submit_job", { job_id: "x.1.2", job_json: good }), 400, "x.1.2");
    await expectJsonError(await call(fx, "/submit_job", { method: "POST", headers: { "Content-Type": "multipart/form-data; boundary=zz" }, body: "garbage" }), 400, "cannot be parsed");
  });

  test("cancel_job by GET, as dist_test's client sends it, and by POST; unknown or missing ids are 4xx JSON", async () => {
    fx = await makeMaster();
    await submit(fx, "carol.1700000000.1", [{ description: "a", max_retries: 3 }, { description: "b", max_retries: 3 }]);
    await drive(fx, "s1", () => "hold", { maxLeases: 1 });
    const res = await call(fx, withQuery("/cancel_job", { job_id: "carol.1700000000.1" }));
    expect(res.status).toBe(200);
    expectNoCache(res);
    expect(await res.json()).toEqual({ status: "SUCCESS" });
    expect(await (await call(fx, withQuery("/job_status", { job_id: "carol.1700000000.1" }))).json()).toMatchObject({ finished_groups: 2, failed_groups: 2, flaky_groups: 0, status: "finished" });
    // Again, by POST: still SUCCESS, nothing changes.
    expect(await (await postForm(fx, "/cancel_job", { job_id: "carol.1700000000.1" })).json()).toEqual({ status: "SUCCESS" });
    await expectJsonError(await call(fx, withQuery("/cancel_job", { job_id: "nobody.1.2" })), 404, "nobody.1.2");
    await expectJsonError(await call(fx, "/cancel_job"), 400, "job_id");
  });

  test("retry_task calls the master's retryTask and always says SUCCESS; a retry already queued is not doubled", async () => {
    fx = await makeMaster();
    const [taskId] = await submit(fx, "erin.1700000000.1", [{ description: "r", max_retries: 1 }]);
    await drive(fx, "s1", () => "FAILED", { maxLeases: 1 });
    const calls: [string, string][] = [];
    const original = fx.master.retryTask.bind(fx.master);
    fx.master.retryTask = (jobId, task) => {
      calls.push([jobId, task]);
      return original(jobId, task);
    };
    // A task JSON as dist_test's slaves sent it (Task.to_json()).
    const taskJson = JSON.stringify({ job_id: "erin.1700000000.1", task_id: taskId, isolate_hash: hashOf("r#0"), description: "r", timeout: 0, attempt: 0, max_retries: 1, artifact_archive_globs: [] });
    for (let i = 0; i < 2; i++) {
      const res = await postForm(fx, "/retry_task", { task_json: taskJson });
      expect(res.status).toBe(200);
      expectNoCache(res);
      expect(await res.json()).toEqual({ status: "SUCCESS" });
    }
    expect(calls).toEqual([["erin.1700000000.1", taskId!], ["erin.1700000000.1", taskId!]]);
    expect((await fx.master.deps.repo.getAttempts("erin.1700000000.1")).map((a) => [a.attempt, a.state])).toEqual([[0, "FAILED"], [1, "QUEUED"]]);
    const unknown = JSON.stringify({ job_id: "nobody.1.2", task_id: "t.0", attempt: 0, max_retries: 5 });
    expect(await (await call(fx, withQuery("/retry_task", { task_json: unknown }))).json()).toEqual({ status: "SUCCESS" });
  });

  test("malformed input to every endpoint is a 4xx JSON error or dist_test's own error shape, never a 500", async () => {
    fx = await makeMaster();
    await submit(fx, "frank.1700000000.1", [{ description: "x" }]);
    const cases: [string, Record<string, string>, number, string][] = [
      ["/retry_task", {}, 400, "task_json"],
      ["/retry_task", { task_json: "{oops" }, 400, "task_json"],
      ["/retry_task", { task_json: "[]" }, 400, "task_json"],
      ["/retry_task", { task_json: JSON.stringify({ task_id: "t.0" }) }, 400, "task_json.job_id"],
      ["/retry_task", { task_json: JSON.stringify({ job_id: "j", task_id: 7 }) }, 400, "task_json.task_id"],
      ["/job_status", {}, 400, "job_id"],
      ["/tasks", { status: "failed" }, 400, "job_id"],
      ["/failed_tasks", {}, 400, "job_id"],
      ["/job", {}, 400, "job_id"],
      ["/trace", {}, 400, "job_id"],
      ["/trace", { job_id: "frank.1700000000.1", format: "xml" }, 400, "format"],
      ["/trace", { job_id: "nobody.1.2", format: "json" }, 404, "nobody.1.2"],
      ["/view_log", { task_id: "t.0", attempt: "0", log: "stdout" }, 400, "job_id"],
      ["/view_log", { job_id: "frank.1700000000.1", attempt: "0", log: "stdout" }, 400, "task_id"],
      ["/view_log", { job_id: "frank.1700000000.1", task_id: "t.0", log: "stdout" }, 400, "attempt"],
      ["/view_log", { job_id: "frank.1700000000.1", task_id: "t.0", attempt: "one", log: "stdout" }, 400, "attempt"],
      ["/view_log", { job_id: "frank.1700000000.1", task_id: "t.0", attempt: "-1", log: "stdout" }, 400, "attempt"],
      ["/view_log", { job_id: "frank.1700000000.1", task_id: "t.0", attempt: "1e3", log: "stdout" }, 400, "attempt"],
      ["/log", { job_id: "frank.1700000000.1", task_id: "t.0", attempt: "99999999999999999999", log: "stdout" }, 400, "attempt"],
    ];
    for (const [path, query, status, field] of cases) {
      await expectJsonError(await call(fx, withQuery(path, query)), status, field);
      await expectJsonError(await postForm(fx, path, query), status, field);
    }
    // Odd requests to every endpoint: never a server error.
    const paths = ["/submit_job", "/cancel_job", "/retry_task", "/job_status", "/tasks", "/failed_tasks", "/job", "/trace", "/view_log", "/log", "/"];
    const junk = ["job_id=%ZZ", "job_id=&job_json=", "job_id=a&job_id=b", "status=%00", "attempt=0x10&log=stdout&task_id=&job_id=frank.1700000000.1", `job_id=${"a".repeat(5000)}`];
    for (const path of paths) {
      for (const query of junk) {
        expect((await call(fx, `${path}?${query}`)).status).toBeLessThan(500);
        const res = await call(fx, path, { method: "POST", headers: { "Content-Type": "application/x-www-form-urlencoded" }, body: query });
        expect(res.status).toBeLessThan(500);
      }
      expect((await call(fx, path, { method: "POST", headers: { "Content-Type": "application/json" }, body: "{}" })).status).toBeLessThan(500);
    }
  });
});

test("jobIdOwner reads dist_test's `[NAME.]<user>.<unix_ts>.<pid>` and nothing else", () => {
  expect(jobIdOwner("alice.1700000000.42")).toEqual({ user: "alice", name: undefined });
  expect(jobIdOwner("kudu.nightly.bob.1700000000.42")).toEqual({ user: "bob", name: "kudu.nightly" });
  expect(jobIdOwner("my-job")).toEqual({});
  expect(jobIdOwner("a.b.c")).toEqual({});
  expect(jobIdOwner(".1.2")).toEqual({});
});
