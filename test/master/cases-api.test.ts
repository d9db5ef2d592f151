/**
 * Test cases end to end through the master's HTTP APIs, as `dt master`
 * composes them (startMasterServer, port 0), on SQLite and, with
 * DT_TEST_MYSQL_URL, on MySQL/MariaDB: slaves report cases with their
 * results, the native API reads them back (paged), counts them (flaky across
 * attempts, a sharded binary's cases one set) and keeps each case's history;
 * malformed reports are a 400 naming the field, and nothing of them is stored.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { systemClock } from "../../src/common/clock.ts";
import { createLogger } from "../../src/common/log.ts";
import { type CaseHistory, type CaseReport, type JobCasesPage, type JobSummary, type Lease, MAX_REPORTED_CASES, type TaskView } from "../../src/master/protocol.ts";
import { startMasterServer } from "../../src/master/server.ts";
import { takeMysqlDatabase } from "../helpers/mysql-databases.ts";
import { putManifest, slave } from "./helpers.ts";
import { CASE_PAGE } from "../../src/master/http/case-api.ts";
import { MAX_CASE_MESSAGE_CHARS } from "../../src/results/model.ts";

const mysqlUrl = process.env.DT_TEST_MYSQL_URL;
if (!mysqlUrl) console.warn("SKIP test/master/cases-api.test.ts on MySQL: DT_TEST_MYSQL_URL is not set (e.g. mysql://root@127.0.0.1:3306/dt_test)");

const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

const pass = (suite: string, name: string, over: Partial<CaseReport> = {}): CaseReport => ({ suite, name, status: "passed", duration_ms: 5, message: null, file: null, line: null, ...over });
const fail = (suite: string, name: string, message: string): CaseReport => ({ suite, name, status: "failed", duration_ms: 7, message, file: "foo_test.cc", line: 42 });

async function withServer(db: "sqlite" | "mysql", body: (api: Api) => Promise<void>): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "dt-cases-"));
  dirs.push(dir);
  const database = db === "mysql" ? await takeMysqlDatabase(mysqlUrl!) : null;
  const server = await startMasterServer({
    port: 0, host: "127.0.0.1", db: database?.url ?? "sqlite", dataDir: dir, clock: systemClock, log: createLogger({ level: "silent" }),
    dispatch: { leaseTtlMs: 60_000, heartbeatIntervalMs: 5_000, noResourceTimeoutMs: 600_000, maxWaitMs: 1_000, maxInfraRequeues: 3 },
  });
  try {
    await body(new Api(server.url, await putManifest(server.url)));
  } finally {
    await server.stop(1_000);
    await database?.release();
  }
}

class Api {
  constructor(readonly url: string, readonly hash: string) {}
  post(path: string, body: unknown): Promise<Response> {
    return fetch(`${this.url}${path}`, { method: "POST", headers: { "content-type": "application/json" }, body: typeof body === "string" ? body : JSON.stringify(body) });
  }
  async json<T>(path: string): Promise<T> {
    const res = await fetch(`${this.url}${path}`);
    expect(res.status, `GET ${path}: ${res.status}`).toBe(200);
    return (await res.json()) as T;
  }
  async submit(jobId: string, tasks: { description: string; shards?: number; max_retries?: number }[]): Promise<void> {
    const res = await this.post("/api/v1/jobs", { job_id: jobId, tasks: tasks.map((t) => ({ isolate_hash: this.hash, ...t })) });
    expect(res.status).toBe(201);
  }
  async lease(free: number): Promise<Lease[]> {
    return ((await (await this.post("/api/v1/slave/lease", { slave: slave(), free, wait_ms: 0 })).json()) as { leases: Lease[] }).leases;
  }
  result(lease: Lease, state: "SUCCEEDED" | "FAILED", extra: Record<string, unknown> = {}): Promise<Response> {
    const now = Date.now();
    return this.post("/api/v1/slave/result", {
      lease_id: lease.lease_id, job_id: lease.job_id, task_id: lease.task_id, attempt: lease.attempt, state, exit_code: state === "SUCCEEDED" ? 0 : 1, message: null,
      times: { fetch_done_at: now, map_done_at: now, command_start_at: now, command_end_at: now + 10, upload_done_at: now + 10 },
      cache: null, stdout_key: null, stderr_key: null, artifact_key: null, artifact_missing: false, slave: "s1", ...extra,
    });
  }
  async report(lease: Lease, state: "SUCCEEDED" | "FAILED", cases: CaseReport[]): Promise<void> {
    const res = await this.result(lease, state, { cases, result_format: "gtest-xml" });
    expect(res.status, await res.clone().text()).toBe(200);
  }
  async allCases(jobId: string, status: string, limit: number): Promise<{ pages: number; cases: JobCasesPage["cases"] }> {
    const cases: JobCasesPage["cases"] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const page: JobCasesPage = await this.json(`/api/v1/jobs/${jobId}/cases?status=${status}&limit=${limit}${cursor ? `&cursor=${cursor}` : ""}`);
      pages++;
      cases.push(...page.cases);
      cursor = page.next_cursor;
    } while (cursor !== null);
    return { pages, cases };
  }
}

async function expect400(res: Response, field: RegExp): Promise<void> {
  const body = (await res.json()) as { error: string; code: string };
  expect(res.status, body.error).toBe(400);
  expect(body.code).toBe("invalid_input");
  expect(body.error).toMatch(field);
}

const byDescription = (leases: Lease[]) => new Map(leases.map((l) => [l.description, l]));

function suite(db: "sqlite" | "mysql") {
  test(`a page of cases ends past ${CASE_PAGE.maxBytes / 2 ** 20} MiB of JSON, whatever its limit; the pages hold every case once`, async () => {
    await withServer(db, async (api) => {
      await api.submit("cases-big", [{ description: "verbose" }]);
      const [lease] = await api.lease(1);
      // 1,500 failures with a message at the bound, control characters in it: ~6 MiB of strings, ~9 MiB of JSON.
      const message = "\u0001".repeat(100) + "m".repeat(MAX_CASE_MESSAGE_CHARS - 100);
      const n = 1_500;
      await api.report(lease!, "FAILED", Array.from({ length: n }, (_, i) => fail("Big", `case${i}`, message)));
      const res = await fetch(`${api.url}/api/v1/jobs/cases-big/cases?limit=10000`);
      const text = await res.text();
      const first = JSON.parse(text) as JobCasesPage;
      expect(first.cases.length).toBeGreaterThan(0);
      expect(first.cases.length).toBeLessThan(n);
      expect(first.next_cursor).not.toBeNull();
      expect(text.length).toBeLessThan(CASE_PAGE.maxBytes + 64 * 1024);
      const { pages, cases } = await api.allCases("cases-big", "failed", 10_000);
      expect(pages).toBeGreaterThan(1);
      expect(new Set(cases.map((c) => c.name)).size).toBe(n);
      expect(cases).toHaveLength(n);
    });
  });

  test("merges of hostile reports: a case twice in one report, shards that each ran every case, a retry of some cases, names differing in case or Unicode normalization", async () => {
    await withServer(db, async (api) => {
      await api.submit("cases-merge", [{ description: "bin", shards: 2, max_retries: 1 }]);
      const first = byDescription(await api.lease(2));
      const nfc = "caf\u00e9";
      const nfd = "cafe\u0301";
      // Shard 0: A reported twice (the later entry, a failure, is its last run); Foo and foo, and two spellings of café, are four cases.
      await api.report(first.get("bin.0")!, "FAILED", [pass("S", "A"), fail("S", "A", "second run"), pass("S", "Foo"), fail("S", "foo", "lower"), pass("S", nfc), pass("S", nfd)]);
      // Shard 1 ignored the shard variables and ran every case.
      await api.report(first.get("bin.1")!, "SUCCEEDED", [pass("S", "A"), pass("S", "Foo"), pass("S", "foo"), pass("S", nfc), pass("S", nfd)]);
      // The retry of shard 0 reran only foo, twice in its report (fail, then pass).
      const [retry] = await api.lease(1);
      expect(retry).toMatchObject({ description: "bin.0", attempt: 1 });
      await api.report(retry!, "SUCCEEDED", [fail("S", "foo", "again"), pass("S", "foo")]);

      const summary: JobSummary = await api.json("/api/v1/jobs/cases-merge");
      expect(summary.counts.cases).toEqual({ total: 5, passed: 3, failed: 1, flaky: 1, skipped: 0 });
      const all = await api.allCases("cases-merge", "all", 100);
      expect(all.cases.map((c) => [c.name, c.status, c.runs, c.failures, c.message])).toEqual([
        ["A", "failed", 3, 1, "second run"], ["Foo", "passed", 2, 0, null], ["foo", "flaky", 4, 2, "again"], [nfc, "passed", 2, 0, null], [nfd, "passed", 2, 0, null],
      ]);
      const history: CaseHistory = await api.json(`/api/v1/tests/history?binary=bin&suite=S&case=${encodeURIComponent(nfd)}`);
      expect(history.results).toHaveLength(2);
    });
  });

  test("cases reported with results: counts, flaky across attempts, a sharded binary as one, paging and history", async () => {
    await withServer(db, async (api) => {
      await api.submit("cases-1", [{ description: "unit_tests", shards: 2, max_retries: 1 }, { description: "other" }]);
      const first = byDescription(await api.lease(3));
      expect([...first.keys()].sort()).toEqual(["other", "unit_tests.0", "unit_tests.1"]);
      await api.report(first.get("unit_tests.0")!, "FAILED", [pass("Suite", "A"), fail("Suite", "B", "Expected: 1\n  Actual: 2"), pass("Suite", "C", { status: "skipped", message: "not today" })]);
      await api.report(first.get("unit_tests.1")!, "SUCCEEDED", [pass("Suite", "D"), pass("Other", "E")]);
      await api.report(first.get("other")!, "FAILED", [{ ...fail("X", "Y", "killed by signal 11"), status: "crashed" }]);
      const [retry] = await api.lease(1);
      expect(retry).toMatchObject({ description: "unit_tests.0", attempt: 1 });
      await api.report(retry!, "SUCCEEDED", [pass("Suite", "A"), pass("Suite", "B", { duration_ms: 9 }), pass("Suite", "C", { status: "skipped", message: "not today either" })]);

      const views = (await api.json<{ tasks: TaskView[] }>("/api/v1/jobs/cases-1/tasks")).tasks;
      expect(views.map((t) => [t.description, t.binary, t.shard_index, t.shard_count])).toEqual([["unit_tests.0", "unit_tests", 0, 2], ["unit_tests.1", "unit_tests", 1, 2], ["other", "other", null, null]]);
      const summary: JobSummary = await api.json("/api/v1/jobs/cases-1");
      expect(summary.counts).toMatchObject({ total_tasks: 3, flaky: 1, failed: 1, succeeded: 1 });
      expect(summary.counts.cases).toEqual({ total: 6, passed: 3, failed: 1, flaky: 1, skipped: 1 });
      // dist_test's answer is unchanged: no cases in it.
      expect(Object.keys(await api.json<Record<string, unknown>>("/job_status?job_id=cases-1"))).not.toContain("cases");

      const flaky: JobCasesPage = await api.json("/api/v1/jobs/cases-1/cases?status=flaky");
      expect(flaky).toEqual({
        job_id: "cases-1", next_cursor: null,
        cases: [{
          binary: "unit_tests", suite: "Suite", name: "B", status: "flaky", task_id: retry!.task_id, attempt: 1, duration_ms: 9,
          message: "Expected: 1\n  Actual: 2", file: "foo_test.cc", line: 42, runs: 2, failures: 1,
        }],
      });
      const failed: JobCasesPage = await api.json("/api/v1/jobs/cases-1/cases?status=failed");
      expect(failed.cases.map((c) => [c.binary, `${c.suite}.${c.name}`, c.status, c.message])).toEqual([["other", "X.Y", "crashed", "killed by signal 11"]]);
      expect((await api.json<JobCasesPage>("/api/v1/jobs/cases-1/cases?status=crashed")).cases).toHaveLength(1);
      expect((await api.json<JobCasesPage>("/api/v1/jobs/cases-1/cases?status=skipped")).cases.map((c) => [c.name, c.message])).toEqual([["C", "not today either"]]);

      // Pages of 2 over 6 cases: 3 pages, each case once, in the order first reported; both shards' cases under one binary.
      const all = await api.allCases("cases-1", "all", 2);
      expect(all.pages).toBe(3);
      expect(all.cases.map((c) => `${c.binary} ${c.suite}.${c.name} ${c.status}`)).toEqual([
        "unit_tests Suite.A passed", "unit_tests Suite.B flaky", "unit_tests Suite.C skipped", "unit_tests Suite.D passed", "unit_tests Other.E passed", "other X.Y crashed",
      ]);

      const history: CaseHistory = await api.json("/api/v1/tests/history?binary=unit_tests&suite=Suite&case=B");
      expect(history.results.map((r) => [r.job_id, r.task_id, r.attempt, r.status, r.duration_ms])).toEqual([
        ["cases-1", retry!.task_id, 1, "passed", 9], ["cases-1", retry!.task_id, 0, "failed", 7],
      ]);
      expect(history.flake_rate).toBe(1);
      const steady: CaseHistory = await api.json("/api/v1/tests/history?binary=unit_tests&suite=Other&case=E");
      expect(steady).toMatchObject({ binary: "unit_tests", suite: "Other", case: "E", flake_rate: 0 });
      expect((await api.json<CaseHistory>("/api/v1/tests/history?binary=unit_tests.0&suite=Suite&case=B")).results).toEqual([]);
    });
  });

  test("a runner that ignores the shard variables runs every case in every shard, reported at once: each case counts once", async () => {
    await withServer(db, async (api) => {
      await api.submit("cases-2", [{ description: "pytest_suite", shards: 3 }]);
      const leases = await api.lease(3);
      const cases = [pass("tests.test_a", "test_one"), fail("tests.test_a", "test_two", "assert 1 == 2"), pass("tests.test_b", "test_three")];
      // At once: on MySQL, three transactions merging the same cases, which must see each other's rows.
      await Promise.all(leases.map((lease) => api.report(lease, "FAILED", cases)));
      const summary: JobSummary = await api.json("/api/v1/jobs/cases-2");
      expect(summary.counts.cases).toEqual({ total: 3, passed: 2, failed: 1, flaky: 0, skipped: 0 });
      const failed: JobCasesPage = await api.json("/api/v1/jobs/cases-2/cases?status=failed");
      expect(failed.cases).toHaveLength(1);
      expect(failed.cases[0]).toMatchObject({ binary: "pytest_suite", name: "test_two", runs: 3, failures: 3 });
    });
  });

  test("a repeated report stores its cases once; malformed reports are a 400 naming the field, and nothing is stored", async () => {
    await withServer(db, async (api) => {
      await api.submit("cases-3", [{ description: "t1" }, { description: "t2" }]);
      const [one, two] = await api.lease(2);
      await api.report(one!, "SUCCEEDED", [pass("S", "a")]);
      const again = await api.result(one!, "SUCCEEDED", { cases: [pass("S", "a")] });
      expect(await again.json()).toMatchObject({ ok: true, duplicate: true });
      const bad: [unknown, RegExp][] = [
        ["many", /^cases: must be a list/],
        [[{ ...pass("S", "b"), status: "exploded" }], /cases\[0\]\.status: must be one of passed, failed, skipped, crashed/],
        [[pass("S", "b"), { ...pass("S", "c"), name: "n".repeat(2_001) }], /cases\[1\]\.name: is 2001 characters; at most 2000/],
        [[{ ...pass("S", "b"), suite: 7 }], /cases\[0\]\.suite: must be a string/],
        [[{ ...pass("S", "b"), suite: "" }], /cases\[0\]\.suite: must not be empty/],
        [[{ ...pass("S", "b"), message: "m".repeat(4_097) }], /cases\[0\]\.message: is 4097 characters; at most 4096/],
        [[{ ...pass("S", "b"), duration_ms: -1 }], /cases\[0\]\.duration_ms: must be an integer/],
        [[{ ...pass("S", "b"), line: 1.5 }], /cases\[0\]\.line: must be an integer/],
        [[{ ...pass("S", "b"), name: "a\u0000b" }], /cases\[0\]\.name: must not contain NUL/],
        [[{ ...pass("S", "b"), name: "\ud800" }], /cases\[0\]\.name: holds a lone UTF-16 surrogate/],
        [[{ ...pass("S", "b"), colour: "red" }], /cases\[0\]\.colour: is not a field of a case/],
        [[null], /cases\[0\]: must be an object/],
      ];
      for (const [cases, field] of bad) await expect400(await api.result(two!, "SUCCEEDED", { cases }), field);
      await expect400(await api.result(two!, "SUCCEEDED", { cases: [], result_format: "tap" }), /result_format: must be one of/);
      await expect400(await api.result(two!, "SUCCEEDED", { cases: [], result_notes: [3] }), /result_notes\[0\]: must be a string/);
      const tooMany = Array.from({ length: MAX_REPORTED_CASES + 1 }, (_, i) => ({ suite: "S", name: `n${i}`, status: "passed" }));
      await expect400(await api.result(two!, "SUCCEEDED", { cases: tooMany }), /cases: has 200001 cases; at most 200000 per report/);
      const tasks = (await api.json<{ tasks: { description: string; attempts: { state: string }[] }[] }>("/api/v1/jobs/cases-3/tasks")).tasks;
      expect(tasks.map((t) => [t.description, t.attempts.map((a) => a.state)])).toEqual([["t1", ["SUCCEEDED"]], ["t2", ["LEASED"]]]);
      const listed: JobCasesPage = await api.json("/api/v1/jobs/cases-3/cases");
      expect(listed.cases.map((c) => [c.binary, c.name, c.runs])).toEqual([["t1", "a", 1]]);
      expect((await api.json<JobSummary>("/api/v1/jobs/cases-3")).counts.cases).toEqual({ total: 1, passed: 1, failed: 0, flaky: 0, skipped: 0 });
    });
  });

  test("queries are checked: a 400 naming the parameter; an unknown job is a 404", async () => {
    await withServer(db, async (api) => {
      await api.submit("cases-4", [{ description: "t" }]);
      const get = (path: string) => fetch(`${api.url}${path}`);
      await expect400(await get("/api/v1/jobs/cases-4/cases?status=broken"), /^status: must be one of all, failed, crashed, flaky, passed, skipped/);
      await expect400(await get("/api/v1/jobs/cases-4/cases?limit=0"), /^limit: must be an integer from 1 to 10000/);
      await expect400(await get("/api/v1/jobs/cases-4/cases?limit=1e3"), /^limit:/);
      await expect400(await get("/api/v1/jobs/cases-4/cases?cursor=abc"), /^cursor:/);
      await expect400(await get("/api/v1/jobs/cases-4/cases?cursor=-1"), /^cursor:/);
      await expect400(await get("/api/v1/jobs/cases-4/cases?cursor=99999999999"), /^cursor:/);
      // Names on Object.prototype are not filters (they were a 500).
      for (const status of ["toString", "__proto__", "constructor", "hasOwnProperty"]) {
        await expect400(await get(`/api/v1/jobs/cases-4/cases?status=${status}`), /^status: must be one of/);
      }
      await expect400(await get("/api/v1/jobs/cases-4/cases?stauts=failed"), /^stauts: is not a parameter/);
      expect((await get("/api/v1/jobs/nope/cases")).status).toBe(404);
      await expect400(await get("/api/v1/tests/history?binary=b&suite=s"), /^case: is required/);
      await expect400(await get("/api/v1/tests/history?suite=s&case=c"), /^binary: is required/);
      await expect400(await get(`/api/v1/tests/history?binary=b&suite=s&case=${"x".repeat(2_001)}`), /^case: is 2001 characters/);
      await expect400(await get("/api/v1/tests/history?binary=b&suite=s&case=c&limit=1001"), /^limit: must be an integer from 1 to 1000/);
      const empty: CaseHistory = await api.json("/api/v1/tests/history?binary=b&suite=s&case=c");
      expect(empty).toEqual({ binary: "b", suite: "s", case: "c", results: [], flake_rate: null });
      expect(await api.json("/api/v1/jobs/cases-4/cases")).toEqual({ job_id: "cases-4", cases: [], next_cursor: null });
    });
  });
}

describe("test cases over HTTP: SQLite", () => suite("sqlite"));
describe.skipIf(!mysqlUrl)("test cases over HTTP: MySQL", () => suite("mysql"));
