/**
 * Hostile and mistaken job requests through the real HTTP endpoints, both
 * dt's `POST /api/v1/jobs` and dist_test's `/submit_job` form: each is a
 * 400 whose JSON names the field (`tasks[0].env.FOO`, or
 * `job_json.tasks[0].env.FOO` inside the form), and no job is stored.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { DtError } from "../../src/common/errors.ts";
import { JOB_LIMITS, validateJobRequest } from "../../src/master/jobs/job-request.ts";
import { type MasterFixture, hashOf, makeMaster } from "../web/fixture.ts";
import { slave } from "./helpers.ts";

let fx: MasterFixture;
let server: ReturnType<typeof Bun.serve>;
let base: string;
beforeAll(async () => {
  fx = await makeMaster();
  server = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: fx.app.fetch });
  base = `http://127.0.0.1:${server.port}`;
});
afterAll(async () => {
  await server.stop(true);
  await fx.close();
});

const HASH = hashOf("t");
const task = (extra: Record<string, unknown> = {}) => ({ isolate_hash: HASH, description: "t", ...extra });
/** A job's JSON text without job_id; `raw` is spliced in as is, for what JSON.stringify cannot write. */
const jobText = (job: Record<string, unknown>) => JSON.stringify(job);

let ids = 0;
const nextJobId = () => `v.1700000000.${++ids}`;

/** The body of the native API: the job with its id in front. */
function nativeBody(jobId: string, text: string): string {
  return text.trim() === "{}" ? `{"job_id":${JSON.stringify(jobId)}}` : `{"job_id":${JSON.stringify(jobId)},${text.trim().slice(1)}`;
}

async function postNative(jobId: string, text: string): Promise<Response> {
  return fetch(`${base}/api/v1/jobs`, { method: "POST", headers: { "Content-Type": "application/json" }, body: nativeBody(jobId, text) });
}

async function postForm(jobId: string, text: string): Promise<Response> {
  return fetch(`${base}/submit_job`, { method: "POST", headers: { "Content-Type": "application/x-www-form-urlencoded" }, body: new URLSearchParams({ job_id: jobId, job_json: text }).toString() });
}

async function expectRefused(res: Response, field: string, status = 400): Promise<string> {
  const text = await res.text();
  expect({ status: res.status, text }).toMatchObject({ status });
  const body = JSON.parse(text) as { error: string; code: string };
  expect(body.error).toContain(field);
  expect(body.code).toBe(status === 413 ? "too_large" : "invalid_input");
  return body.error;
}

async function expectNoJob(jobId: string): Promise<void> {
  expect((await fetch(`${base}/api/v1/jobs/${jobId}`)).status).toBe(404);
}

/** Through both endpoints: a 400 naming `field` (prefixed with job_json inside the form), and no job afterwards. */
async function expectBothRefuse(text: string, field: string, formField = field.startsWith("[") ? `job_json${field}` : `job_json.${field}`): Promise<void> {
  const native = nextJobId();
  const message = await expectRefused(await postNative(native, text), field);
  // The path leads the message, or follows the name of the document that a JSON-level problem is in.
  expect(message.replace(/^POST jobs body: /, "")).toStartWith(field);
  await expectNoJob(native);
  const form = nextJobId();
  const formMessage = await expectRefused(await postForm(form, text), formField);
  expect(formMessage).toStartWith(formField);
  await expectNoJob(form);
}

describe("a bad job is a 400 naming the field, through both APIs, and nothing is stored", () => {
  const env64k = { BIG: "x".repeat(JOB_LIMITS.maxEnvBytes) };
  const cases: [string, string, string][] = [
    // Unknown fields: a typo is named, not ignored.
    ["a misspelled isolate_hash", jobText({ tasks: [{ isolated_hash: HASH, description: "t" }] }), "tasks[0].isolated_hash"],
    ["a misspelled timeout", jobText({ tasks: [task(), task({ timout: 30 })] }), "tasks[1].timout"],
    ["an unknown top-level key", jobText({ tasks: [task()], prority: 3 }), "prority"],
    ["a __proto__ key", `{"__proto__": {"isAdmin": true}, "tasks": [${JSON.stringify(task())}]}`, "__proto__"],
    ["a constructor key in a task", jobText({ tasks: [task({ constructor: { prototype: {} } })] }), "tasks[0].constructor"],
    ["a key with odd characters", jobText({ tasks: [task()], "a b": 1 }), '["a b"]'],
    // Types and values.
    ["a non-string description", jobText({ tasks: [task({ description: 42 })] }), "tasks[0].description"],
    ["an object description", jobText({ tasks: [task({ description: { toString: "x" } })] }), "tasks[0].description"],
    ["a description over the limit", jobText({ tasks: [task({ description: "d".repeat(JOB_LIMITS.maxDescription + 1) })] }), "tasks[0].description"],
    ["a NUL in the description", jobText({ tasks: [task({ description: "a\u0000b" })] }), "tasks[0].description"],
    ["a newline in the description", jobText({ tasks: [task({ description: "a\nb" })] }), "tasks[0].description"],
    ["a bad isolate_hash", jobText({ tasks: [task({ isolate_hash: "../../etc/passwd" })] }), "tasks[0].isolate_hash"],
    ["a timeout of 1e400 (Infinity)", `{"tasks": [{"isolate_hash": "${HASH}", "description": "t", "timeout": 1e400}]}`, "tasks[0].timeout"],
    ["a huge timeout", jobText({ tasks: [task({ timeout: 1e20 })] }), "tasks[0].timeout"],
    ["a fractional timeout", jobText({ tasks: [task({ timeout: 1.5 })] }), "tasks[0].timeout"],
    ["a string timeout", jobText({ tasks: [task({ timeout: "30" })] }), "tasks[0].timeout"],
    ["a negative max_retries", jobText({ tasks: [task({ max_retries: -1 })] }), "tasks[0].max_retries"],
    ["too many retries", jobText({ tasks: [task({ max_retries: JOB_LIMITS.maxRetries + 1 })] }), "tasks[0].max_retries"],
    ["a task priority out of range", jobText({ tasks: [task({ priority: 1e9 })] }), "tasks[0].priority"],
    ["a job priority that is not a number", jobText({ tasks: [task()], priority: "high" }), "priority"],
    ["a bad attempt", jobText({ tasks: [task({ attempt: -1 })] }), "tasks[0].attempt"],
    // Reuse (docs/reuse.md): booleans only, so "false" or 1 is not read as whatever JavaScript makes of it.
    ["idempotent as a string", jobText({ tasks: [task({ idempotent: "false" })] }), "tasks[0].idempotent"],
    ["idempotent as a number", jobText({ tasks: [task(), task({ idempotent: 1 })] }), "tasks[1].idempotent"],
    ["reuse as a string", jobText({ tasks: [task()], reuse: "yes" }), "reuse"],
    ["reuse as an object", jobText({ tasks: [task()], reuse: { on: true } }), "reuse"],
    ["a docker_image that is not a string", jobText({ tasks: [task({ docker_image: ["x"] })] }), "tasks[0].docker_image"],
    ["a name with markup", jobText({ tasks: [task()], name: "<script>alert(1)</script>" }), "name"],
    ["a user with markup", jobText({ tasks: [task()], user: `"><img src=x onerror=alert(1)>` }), "user"],
    ["a task that is not an object", jobText({ tasks: [task(), "t"] }), "tasks[1]"],
    // Limits.
    ["more tasks than a job may have", jobText({ tasks: new Array(JOB_LIMITS.maxTasks + 1).fill(0) }), "tasks"],
    ["shards expanding past the task limit", jobText({ tasks: [task({ shards: JOB_LIMITS.maxShards }), ...Array.from({ length: 19 }, () => task({ shards: JOB_LIMITS.maxShards })), task({ shards: 2 })] }), "tasks[20].shards"],
    ["too many shards", jobText({ tasks: [task({ shards: JOB_LIMITS.maxShards + 1 })] }), "tasks[0].shards"],
    // shards: "auto".
    ["shards as another string", jobText({ tasks: [task({ shards: "balanced" })] }), "tasks[0].shards"],
    ["shards \"Auto\" (case matters)", jobText({ tasks: [task({ shards: "Auto" })] }), "tasks[0].shards"],
    ["shard_seconds without auto", jobText({ tasks: [task({ shard_seconds: 30 })] }), "tasks[0].shard_seconds"],
    ["max_shards with numeric shards", jobText({ tasks: [task({ shards: 4, max_shards: 8 })] }), "tasks[0].max_shards"],
    ["a zero shard_seconds", jobText({ tasks: [task({ shards: "auto", shard_seconds: 0 })] }), "tasks[0].shard_seconds"],
    ["a fractional shard_seconds", jobText({ tasks: [task({ shards: "auto", shard_seconds: 0.5 })] }), "tasks[0].shard_seconds"],
    ["a string shard_seconds", jobText({ tasks: [task({ shards: "auto", shard_seconds: "60" })] }), "tasks[0].shard_seconds"],
    ["max_shards past its limit", jobText({ tasks: [task({ shards: "auto", max_shards: JOB_LIMITS.maxAutoShards + 1 })] }), "tasks[0].max_shards"],
    ["a negative max_shards", jobText({ tasks: [task({ shards: "auto", max_shards: -1 })] }), "tasks[0].max_shards"],
    ["auto with a case_filter that cannot exclude", jobText({ tasks: [task({ shards: "auto", case_filter: { env: "TESTS" } })] }), "tasks[0].case_filter"],
    ["an auto description too long for its shards' suffix", jobText({ tasks: [task({ description: "d".repeat(JOB_LIMITS.maxDescription - 2), shards: "auto", max_shards: 100 })] }), "tasks[0].description"],
    ["a sharded description past the limit", jobText({ tasks: [task({ description: "d".repeat(JOB_LIMITS.maxDescription - 1), shards: 10 })] }), "tasks[0].description"],
    ["an env copied past the job's size by shards", jobText({ tasks: [task({ env: { BIG: "x".repeat(60_000) }, shards: JOB_LIMITS.maxShards })] }), "tasks[0]"],
    ["too many globs", jobText({ tasks: [task({ artifact_archive_globs: new Array(JOB_LIMITS.maxGlobs + 1).fill("*.log") })] }), "tasks[0].artifact_archive_globs"],
    ["a glob over the length limit", jobText({ tasks: [task({ artifact_archive_globs: ["ok/*", "g".repeat(JOB_LIMITS.maxGlobLength + 1)] })] }), "tasks[0].artifact_archive_globs[1]"],
    ["an absolute glob", jobText({ tasks: [task({ artifact_archive_globs: ["/etc/passwd"] })] }), "tasks[0].artifact_archive_globs[0]"],
    ["a glob climbing out", jobText({ tasks: [task({ artifact_archive_globs: ["logs/../../*"] })] }), "tasks[0].artifact_archive_globs[0]"],
    ["a glob that is not a string", jobText({ tasks: [task({ artifact_archive_globs: [7] })] }), "tasks[0].artifact_archive_globs[0]"],
    ["globs that are not a list", jobText({ tasks: [task({ artifact_archive_globs: "*.log" })] }), "tasks[0].artifact_archive_globs"],
    ["an env over the size limit", jobText({ tasks: [task({ env: { ...env64k, MORE: "y" } })] }), "tasks[0].env"],
    ["an env value that is not a string", jobText({ tasks: [task({ env: { FOO: 1 } })] }), "tasks[0].env.FOO"],
    ["an env value that is an object", jobText({ tasks: [task({ env: { FOO: { a: "b" } } })] }), "tasks[0].env.FOO"],
    ["a NUL in an env value", jobText({ tasks: [task({ env: { FOO: "a\u0000b" } })] }), "tasks[0].env.FOO"],
    ["an env name with '='", jobText({ tasks: [task({ env: { "A=B": "c" } })] }), 'tasks[0].env["A=B"]'],
    ["an empty env name", jobText({ tasks: [task({ env: { "": "c" } })] }), 'tasks[0].env[""]'],
    ["too many dimensions", jobText({ tasks: [task({ dimensions: Object.fromEntries(Array.from({ length: JOB_LIMITS.maxDimensions + 1 }, (_, i) => [`d${i}`, "x"])) })] }), "tasks[0].dimensions"],
    // Within the character limits, past the database's 65,535-byte column once written as JSON (MySQL refused it with a 500; SQLite stored it).
    ["an env whose JSON is past the column (multi-byte UTF-8)", jobText({ tasks: [task({ env: { BIG: "é".repeat(40_000) } })] }), "tasks[0].env: written as JSON takes 80010 bytes"],
    ["dimensions whose JSON is past the column (escaped control characters)", jobText({ tasks: [task({ dimensions: Object.fromEntries(Array.from({ length: 32 }, (_, i) => [`d${i}`.padEnd(JOB_LIMITS.maxDimensionLength, "\u0001"), "\u0001".repeat(JOB_LIMITS.maxDimensionLength)])) })] }), "tasks[0].dimensions: written as JSON takes"],
    ["a dimension value over the limit", jobText({ tasks: [task({ dimensions: { os: "l".repeat(JOB_LIMITS.maxDimensionLength + 1) } })] }), "tasks[0].dimensions.os"],
    // What JSON.parse would take silently.
    ["a key given twice", `{"tasks": [{"isolate_hash": "${HASH}", "description": "t", "timeout": 10, "timeout": 99999999}]}`, "tasks[0].timeout"],
    ["very deep nesting", `{"tasks": [{"isolate_hash": "${HASH}", "description": "t", "env": {"FOO": ${"[".repeat(100_000)}${"]".repeat(100_000)}}}]}`, "tasks[0].env.FOO"],
    // Odd text: half a surrogate pair is not text (UTF-8 cannot hold it); '\' in a glob is no separator on the slaves.
    ["a lone high surrogate in the description", `{"tasks": [{"isolate_hash": "${HASH}", "description": "t\\ud800"}]}`, "tasks[0].description"],
    ["a lone low surrogate in an env value", `{"tasks": [{"isolate_hash": "${HASH}", "description": "t", "env": {"A": "\\udc00x"}}]}`, "tasks[0].env.A"],
    ["a lone surrogate in a dimension name", `{"tasks": [{"isolate_hash": "${HASH}", "description": "t", "dimensions": {"\\ud83d": "x"}}]}`, 'tasks[0].dimensions["\\ud83d"]'],
    ["a lone surrogate in a glob", `{"tasks": [{"isolate_hash": "${HASH}", "description": "t", "artifact_archive_globs": ["a\\udfff/*"]}]}`, "tasks[0].artifact_archive_globs[0]"],
    ["a glob climbing out with backslashes", jobText({ tasks: [task({ artifact_archive_globs: ["..\\x"] })] }), "tasks[0].artifact_archive_globs[0]"],
    ["a glob with a Windows-style separator", jobText({ tasks: [task({ artifact_archive_globs: ["logs\\*.txt"] })] }), "tasks[0].artifact_archive_globs[0]"],
    // result_globs: checked as artifact_archive_globs are, relative to the outputs.
    ["result globs that are not a list", jobText({ tasks: [task({ result_globs: "**/*.xml" })] }), "tasks[0].result_globs"],
    ["a result glob that is not a string", jobText({ tasks: [task({ result_globs: ["ok.xml", { glob: "*" }] })] }), "tasks[0].result_globs[1]"],
    ["an empty result glob", jobText({ tasks: [task({ result_globs: [""] })] }), "tasks[0].result_globs[0]"],
    ["an absolute result glob", jobText({ tasks: [task({ result_globs: ["/etc/*.xml"] })] }), "tasks[0].result_globs[0]"],
    ["a result glob climbing out of the outputs", jobText({ tasks: [task({ result_globs: ["reports/../../*.xml"] })] }), "tasks[0].result_globs[0]"],
    ["a result glob with '\\'", jobText({ tasks: [task({ result_globs: ["reports\\*.xml"] })] }), "tasks[0].result_globs[0]"],
    ["too many result globs", jobText({ tasks: [task({ result_globs: new Array(JOB_LIMITS.maxGlobs + 1).fill("*.xml") })] }), "tasks[0].result_globs"],
    ["a result glob over the length limit", jobText({ tasks: [task({ result_globs: ["g".repeat(JOB_LIMITS.maxGlobLength + 1)] })] }), "tasks[0].result_globs[0]"],
    ["a NUL in a result glob", jobText({ tasks: [task({ result_globs: ["a\u0000.xml"] })] }), "tasks[0].result_globs[0]"],
    ["a misspelled result_globs", jobText({ tasks: [task({ results_globs: ["*.xml"] })] }), "tasks[0].results_globs"],
    ["no tasks", jobText({}), "tasks"],
    ["an empty task list", jobText({ tasks: [] }), "tasks"],
  ];
  for (const [what, text, field] of cases) {
    test(what, async () => {
      await expectBothRefuse(text, field);
    });
  }

  test("text that is not JSON names the document", async () => {
    // NaN is JavaScript, not JSON.
    const text = `{"tasks": [{"isolate_hash": "${HASH}", "description": "t", "timeout": NaN}]}`;
    const native = nextJobId();
    await expectRefused(await postNative(native, text), "POST jobs body is not valid JSON");
    const form = nextJobId();
    await expectRefused(await postForm(form, text), "job_json is not valid JSON");
    await expectNoJob(native);
    await expectNoJob(form);
  });

  test("job ids outside the safe character set are refused by both", async () => {
    for (const jobId of ["../../etc/passwd", "a b", "x".repeat(101), `x"><script>alert(1)</script>`, ".hidden", "a/b", "a\u0000b", "ünïcode"]) {
      await expectRefused(await postNative(jobId, jobText({ tasks: [task()] })), "job_id");
      await expectRefused(await postForm(jobId, jobText({ tasks: [task()] })), "job_id");
    }
  });

  test("a job without an id whose name and user would make one past 100 characters is refused naming the name", async () => {
    const body = { name: "n".repeat(100), user: "u".repeat(64), tasks: [task()] };
    const res = await fetch(`${base}/api/v1/jobs`, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
    await expectRefused(res, "name: with the user, makes a job id of 185 characters");
  });

  test("after all of it, the master holds no job and queues nothing", async () => {
    expect(await fx.master.listJobs({})).toEqual([]);
    expect(fx.master.queueStats().queued).toBe(0);
  });
});

test("called directly (no parseStrictJson in front), a value nested 100,000 deep where a scalar belongs is still a DtError naming the field", () => {
  const deep = () => JSON.parse(`${"[".repeat(100_000)}${"]".repeat(100_000)}`) as unknown;
  for (const [job, field] of [
    [{ tasks: [task({ description: deep() })] }, "tasks[0].description"],
    [{ tasks: [task({ timeout: deep() })] }, "tasks[0].timeout"],
    [{ tasks: [task({ env: { A: deep() } })] }, "tasks[0].env.A"],
    [{ priority: deep(), tasks: [task()] }, "priority"],
  ] as const) {
    let error: unknown;
    try {
      validateJobRequest(job);
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(DtError);
    expect((error as DtError).message).toStartWith(`${field}: must be`);
    expect((error as DtError).message).toEndWith("got a list");
  }
});

describe("odd input that is accepted and normalised", () => {
  const bom = "\ufeff";

  test("a UTF-8 byte order mark before the JSON: accepted by both APIs", async () => {
    const native = nextJobId();
    const bytes = new Uint8Array([0xef, 0xbb, 0xbf, ...new TextEncoder().encode(nativeBody(native, jobText({ tasks: [task()] })))]);
    const res = await fetch(`${base}/api/v1/jobs`, { method: "POST", headers: { "Content-Type": "application/json" }, body: bytes });
    expect({ status: res.status, body: await res.text() }).toMatchObject({ status: 201 });
    const form = nextJobId();
    const formRes = await postForm(form, `${bom}${jobText({ tasks: [task()] })}`);
    expect({ status: formRes.status, body: await formRes.text() }).toEqual({ status: 200, body: '{"status":"SUCCESS"}' });
    expect((await fx.master.deps.repo.getTasks(form)).map((t) => t.description)).toEqual(["t"]);
  });

  test("a byte order mark anywhere but the start is refused as not JSON, naming line and column", async () => {
    const native = nextJobId();
    await expectRefused(await postNative(native, `{"tasks": [${bom}${JSON.stringify(task())}]}`), "POST jobs body is not valid JSON: line 1, column");
    await expectNoJob(native);
  });

  test("-0 (timeout, retries, priorities) is stored as 0, through both APIs", async () => {
    const text = `{"priority": -0, "tasks": [{"isolate_hash": "${HASH}", "description": "t", "timeout": -0, "max_retries": -0, "priority": -0}]}`;
    const native = nextJobId();
    expect((await postNative(native, text)).status).toBe(201);
    const form = nextJobId();
    expect((await postForm(form, text)).status).toBe(200);
    // What the master keeps in memory (queue, scheduler) before any database round trip turns -0 into 0.
    const valid = validateJobRequest(JSON.parse(text));
    expect([valid.priority, valid.tasks[0]!.timeoutSec, valid.tasks[0]!.maxRetries, valid.tasks[0]!.priority].map((v) => Object.is(v, 0))).toEqual([true, true, true, true]);
    for (const jobId of [native, form]) {
      const [stored] = await fx.master.deps.repo.getTasks(jobId);
      expect([stored!.timeoutSec, stored!.maxRetries, stored!.priority].map((v) => Object.is(v, 0))).toEqual([true, true, true]);
      const tasks = (await (await fetch(`${base}/api/v1/jobs/${jobId}/tasks`)).text());
      expect(tasks).not.toContain("-0");
    }
  });

  test("a surrogate pair (an emoji) is text, and accepted", async () => {
    const native = nextJobId();
    expect((await postNative(native, jobText({ tasks: [task({ description: "flaky 😀" })] }))).status).toBe(201);
    expect((await fx.master.deps.repo.getTasks(native)).map((t) => t.description)).toEqual(["flaky 😀"]);
  });
});

describe("what dt's client and dist_test's client send is accepted", () => {
  test("dt's own request: every key its tasks file may hold, with job_id, user, name and priority", async () => {
    const jobId = nextJobId();
    const body = {
      job_id: jobId, user: "alice", name: "nightly", priority: 3,
      tasks: [task({ timeout: 930, max_retries: 2, artifact_archive_globs: ["build/*/test-logs/**/*"], shards: 2, env: { A: "1" }, dimensions: { os: "linux" }, priority: -5 })],
    };
    const res = await fetch(`${base}/api/v1/jobs`, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
    expect(res.status).toBe(201);
    expect(await res.json()).toMatchObject({ job_id: jobId, tasks: 2 });
  });

  test("result_globs through both APIs: stored as given (absent: null, the default) and handed to the slave in its lease, the default filled in", async () => {
    const own = await makeMaster();
    const ownServer = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: own.app.fetch });
    try {
      const url = `http://127.0.0.1:${ownServer.port}`;
      const tasks = [task({ description: "given", result_globs: ["reports/**/TEST-*.xml", "gtest.xml"] }), task({ description: "default" }), task({ description: "none", result_globs: [] })];
      const native = await fetch(`${url}/api/v1/jobs`, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ job_id: "native.1700000000.1", tasks }) });
      expect(native.status).toBe(201);
      const form = await fetch(`${url}/submit_job`, { method: "POST", body: new URLSearchParams({ job_id: "form.1700000000.1", job_json: jobText({ tasks }) }) });
      expect(form.status).toBe(200);
      for (const jobId of ["native.1700000000.1", "form.1700000000.1"]) {
        expect((await own.master.deps.repo.getTasks(jobId)).map((t) => [t.description, t.resultGlobs])).toEqual([["given", ["reports/**/TEST-*.xml", "gtest.xml"]], ["default", null], ["none", []]]);
      }
      const leases = await own.master.dispatcher.lease({ slave: slave(), free: 6, wait_ms: 0 });
      expect(leases.map((l) => [l.job_id, l.description, l.result_globs]).sort()).toEqual([
        ["form.1700000000.1", "default", ["**/*.xml"]], ["form.1700000000.1", "given", ["reports/**/TEST-*.xml", "gtest.xml"]], ["form.1700000000.1", "none", []],
        ["native.1700000000.1", "default", ["**/*.xml"]], ["native.1700000000.1", "given", ["reports/**/TEST-*.xml", "gtest.xml"]], ["native.1700000000.1", "none", []],
      ]);
    } finally {
      await ownServer.stop(true);
      await own.close();
    }
  });

  test("dist_test's tasks.json, verbatim: Kudu's keys plus docker_image and attempt, which dt takes and does not use", async () => {
    const jobId = "kudu.bob.1700000000.77";
    const json = jobText({
      tasks: [
        { isolate_hash: HASH, description: "foo-test.0", artifact_archive_globs: ["build/*/test-logs/**/*"], timeout: 930, max_retries: 0 },
        { isolate_hash: HASH, description: "grind-test", timeout: 600, max_retries: 1, attempt: 0, docker_image: "kudu/build:latest", artifact_archive_globs: ["**/surefire-reports/TEST-*.xml"] },
      ],
    });
    const res = await postForm(jobId, json);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: "SUCCESS" });
    expect((await fx.master.deps.repo.getTasks(jobId)).map((t) => [t.description, t.timeoutSec, t.maxRetries])).toEqual([["foo-test.0", 930, 0], ["grind-test", 600, 1]]);
  });
});

describe('shards: "auto" is checked at submit and left for the planner', () => {
  test("defaults, given values, and the task kept once with its settings", () => {
    const valid = validateJobRequest({ tasks: [task({ description: "a" }), task({ description: "b", shards: "auto" }), task({ description: "c", shards: "auto", shard_seconds: 5, max_shards: 3, case_filter: { arg: "{case}", exclude: "--deselect={case}" } })] });
    expect(valid.tasks.map((t) => [t.index, t.description, t.shardIndex, t.caseSelection])).toEqual([[0, "a", null, null], [1, "b", null, null], [2, "c", null, null]]);
    expect([...valid.autoShards]).toEqual([[1, { targetMs: 60_000, maxShards: 32 }], [2, { targetMs: 5_000, maxShards: 3 }]]);
  });

  test("the message says what to do", () => {
    expect(() => validateJobRequest({ tasks: [task({ shard_seconds: 30 })] })).toThrow('tasks[0].shard_seconds: only applies to "shards": "auto"');
    expect(() => validateJobRequest({ tasks: [task({ shards: "auto", case_filter: { env: "TESTS" } })] })).toThrow(/has no "exclude" form, which "shards": "auto" needs.*add one/);
  });

  test("an auto task counts as max_shards against the job's task limit", () => {
    const many = Array.from({ length: Math.floor(JOB_LIMITS.maxTasks / 1000) }, () => task({ shards: "auto", max_shards: 1000 }));
    expect(() => validateJobRequest({ tasks: [...many, task({ shards: "auto", max_shards: 1 })] })).toThrow("expands the job to more than");
  });
});

describe("a job's equal values are kept once", () => {
  test("tasks with equal env, dimensions, globs and isolate hash share them; unequal ones do not", () => {
    // JSON.parse makes a new object and string for each task, as a submitted body does.
    const body = JSON.parse(JSON.stringify({
      tasks: [
        { isolate_hash: HASH, description: "a", env: { A: "1" }, dimensions: { os: "linux" }, artifact_archive_globs: ["*.xml"] },
        { isolate_hash: HASH, description: "b", env: { A: "1" }, dimensions: { os: "linux" }, artifact_archive_globs: ["*.xml"] },
        { isolate_hash: HASH, description: "c", env: { A: "2" }, dimensions: { os: "mac" } },
        { isolate_hash: HASH, description: "d" },
        { isolate_hash: HASH, description: "e" },
      ],
    }));
    const [a, b, c, d, e] = validateJobRequest(body).tasks;
    expect(a!.env).toBe(b!.env);
    expect(a!.dimensions).toBe(b!.dimensions);
    expect(a!.artifactGlobs).toBe(b!.artifactGlobs);
    expect(d!.env).toBe(e!.env);
    expect(d!.artifactGlobs).toBe(e!.artifactGlobs);
    expect(c!.env).not.toBe(a!.env);
    expect([c!.env, c!.dimensions, d!.dimensions]).toEqual([{ A: "2" }, { os: "mac" }, {}]);
    expect(a!.isolateHash).toBe(HASH);
  });
});
