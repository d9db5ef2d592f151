/**
 * The job page's test cases, end to end over HTTP: a slave reports cases
 * through the slave API (markup in names and messages), and the page lists
 * the failed ones under their task's row, escaped, with the case counts in
 * the header and a link to each case's failure in its attempt's log; a job
 * whose tasks reported no cases shows the page as before.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import type { CaseReport, Lease } from "../../src/master/protocol.ts";
import { MAX_PAGE_CASES } from "../../src/web/case-list.tsx";
import { type MasterFixture, hashOf, makeMaster } from "./fixture.ts";

const SCRIPT = "<script>alert(1)</script>";
const IMG = `"><img src=x onerror=alert(1)>`;
const CASES_JOB = "cases.alice.1700000000.1";
const PLAIN_JOB = "plain.alice.1700000000.2";
const MANY_JOB = "many.alice.1700000000.3";

let fx: MasterFixture;
let server: ReturnType<typeof Bun.serve>;
let base: string;

const post = (path: string, body: unknown) => fetch(`${base}${path}`, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
const kase = (suite: string, name: string, status: CaseReport["status"], over: Partial<CaseReport> = {}): CaseReport => ({ suite, name, status, duration_ms: 12, message: null, file: null, line: null, ...over });

async function runJob(jobId: string, description: string, state: "SUCCEEDED" | "FAILED", cases: CaseReport[] | undefined): Promise<Lease> {
  expect((await post("/api/v1/jobs", { job_id: jobId, tasks: [{ isolate_hash: hashOf(jobId), description }] })).status).toBe(201);
  const leased = await post("/api/v1/slave/lease", { slave: { name: "s1", slots: 1, dimensions: {}, version: "t" }, free: 1, wait_ms: 0 });
  const [lease] = ((await leased.json()) as { leases: Lease[] }).leases;
  expect(lease?.job_id).toBe(jobId);
  const now = fx.clock.now();
  const res = await post("/api/v1/slave/result", {
    lease_id: lease!.lease_id, job_id: jobId, task_id: lease!.task_id, attempt: lease!.attempt, state, exit_code: state === "SUCCEEDED" ? 0 : 1, message: null,
    times: { fetch_done_at: now, map_done_at: now, command_start_at: now, command_end_at: now + 10, upload_done_at: now + 10 },
    cache: null, stdout_key: null, stderr_key: null, artifact_key: null, artifact_missing: false, slave: "s1",
    ...(cases ? { cases, result_format: "gtest-xml" } : {}),
  });
  expect(res.status, await res.clone().text()).toBe(200);
  return lease!;
}

let casesLease: Lease;

beforeAll(async () => {
  fx = await makeMaster();
  server = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: fx.app.fetch });
  base = `http://127.0.0.1:${server.port}`;
  casesLease = await runJob(CASES_JOB, "gtest_unittest", "FAILED", [
    kase("ExpectTest", "Passes", "passed"),
    kase("ExpectTest", `Precedence${SCRIPT}`, "failed", { message: `Value of: 1 + 1 ${IMG}\n  Actual: 2\n${SCRIPT}\nl4\nl5\nl6 hidden`, file: "gtest_unittest.cc", line: 42 }),
    kase(`Death${IMG}`, "Aborts", "crashed", { duration_ms: null, message: "died" }),
    kase("Disk", "Full", "skipped", { message: "no disk" }),
  ]);
  await runJob(PLAIN_JOB, "script.sh", "FAILED", undefined);
  await runJob(MANY_JOB, "big_test", "FAILED", Array.from({ length: MAX_PAGE_CASES + 7 }, (_, i) => kase("S", `F${i}`, "failed", { message: `boom ${i}` })));
});

afterAll(async () => {
  await server?.stop(true);
  await fx?.close();
});

const page = async (jobId: string) => {
  const res = await fetch(`${base}/job?job_id=${jobId}`);
  expect(res.status).toBe(200);
  return { html: await res.text(), csp: res.headers.get("content-security-policy") };
};

/** The failed-case items of a page, in order. */
const caseItems = (html: string) => [...html.matchAll(/<li class="failed-case (\w+)">([\s\S]*?)<\/li>/g)].map((m) => ({ status: m[1]!, html: m[2]! }));

test("the failed task's row lists its failed cases, with status, time, message, place, a link to the log at the failure and the case's history; the header counts the cases", async () => {
  const { html } = await page(CASES_JOB);
  expect(html).toContain('<span id="case-counts">Cases: 4 (1 passed, 2 failed, 0 flaky, 1 skipped)</span>');
  const row = html.slice(html.indexOf('<tr class="task failed"'), html.indexOf("<details", html.indexOf('<tr class="task failed"')));
  expect(row).toContain('data-name="gtest_unittest"');
  // The failed and the crashed case, not the passed or skipped ones, under the task's name.
  const items = caseItems(row);
  expect(items.map((c) => c.status)).toEqual(["failed", "crashed"]);
  expect(html).not.toContain("Passes");
  expect(html).not.toContain("Full");
  expect(items[0]!.html).toContain('<span class="mono">ExpectTest.Precedence&lt;script&gt;alert(1)&lt;/script&gt;</span> <strong>failed</strong> in 12 ms');
  expect(items[1]!.html).toContain("<strong>crashed</strong> <a");
  expect(items[0]!.html).toContain("gtest_unittest.cc:42");
  // The first five lines of the message, the sixth left to the log.
  expect(items[0]!.html).toContain("l5\n…</pre>");
  expect(html).not.toContain("l6 hidden");
  const logLink = new URLSearchParams(/<a class="case-log" href="view_log\?([^"]+)">log at the failure<\/a>/.exec(items[0]!.html)![1]!.replaceAll("&amp;", "&"));
  expect(Object.fromEntries(logLink)).toEqual({ job_id: CASES_JOB, task_id: casesLease.task_id, attempt: "0", log: "stdout", case: `ExpectTest.Precedence${SCRIPT}`, at: "gtest_unittest.cc:42" });
  // Each case links to its history over all jobs, which answers.
  const history = [...row.matchAll(/href="(tests\/history\?[^"]+)">history</g)].map((m) => m[1]!.replaceAll("&amp;", "&"));
  expect(history).toHaveLength(2);
  expect(history[0]).toStartWith("tests/history?binary=gtest_unittest&suite=");
  for (const link of history) expect((await fetch(`${base}/${link}`)).status).toBe(200);
});

test("markup in case names and messages comes out escaped, and the page still runs no script", async () => {
  const { html, csp } = await page(CASES_JOB);
  expect(html).not.toContain(SCRIPT);
  expect(html).not.toContain("<img");
  expect(html).toContain("&quot;&gt;&lt;img src=x onerror=alert(1)&gt;");
  expect(csp).toContain("script-src");
  expect(html).not.toMatch(/<script(?![^>]*nonce)/);
});

test("past the page's cap, the rest of the failed cases is a link to the API", async () => {
  const { html } = await page(MANY_JOB);
  expect(caseItems(html)).toHaveLength(MAX_PAGE_CASES);
  expect(html).toContain(`7 more failed cases are not listed under their tasks: <a href="api/v1/jobs/${MANY_JOB}/cases?status=failed">all of them (JSON)</a>`);
  const api = (await (await fetch(`${base}/api/v1/jobs/${MANY_JOB}/cases?status=failed&limit=100`)).json()) as { cases: unknown[] };
  expect(api.cases).toHaveLength(MAX_PAGE_CASES + 7);
});

test("a job whose tasks reported no cases shows no case counts and no case table", async () => {
  const { html } = await page(PLAIN_JOB);
  expect(html).not.toContain("case-counts");
  expect(html).not.toContain('<li class="failed-case');
  expect(html).toContain('<table id="tasks">');
});
