/**
 * The job page of a job that reused results (docs/reuse.md), over HTTP from
 * a master on a real SQLite repo: reused attempts marked in words with a
 * link to the original job and its log, a waiting attempt naming the run it
 * waits for, the header's reuse counts, and the reused cases marked in the
 * case list. Ids that hold markup come out URL-encoded in links and escaped
 * in text. A job without reuse shows none of it.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import type { Attempt, ReuseOrigin } from "../../src/master/model.ts";
import type { CaseResult } from "../../src/results/model.ts";
import { makeAttempt, makeJobWithTasks } from "../master/repo.conformance.ts";
import { type MasterFixture, makeMaster } from "./fixture.ts";

const T0 = 1_700_000_000_000;
const ORIGIN = "orig.alice.1700000000.1";
/** No job id the API takes looks like this; the page must not trust that none does. */
const HOSTILE = `evil"'<script>alert(1)</script>`;
const RUNNING = "running.bob.1700000000.3";
const USER = "reuse.alice.1700000000.4";
const PLAIN = "plain.alice.1700000000.5";

let fx: MasterFixture;
let server: ReturnType<typeof Bun.serve>;
let base: string;
let originTasks: string[];
let hostileTasks: string[];
let runningTasks: string[];
let userTasks: string[];

const kase = (name: string, over: Partial<CaseResult> = {}): CaseResult => ({ suite: "S", name, status: "passed", durationMs: 5, message: null, file: null, line: null, ...over });

/** A job of `n` tasks whose first attempts are `over(i)`. */
async function seed(jobId: string, n: number, over: (i: number) => Partial<Attempt>, createdAt = T0): Promise<string[]> {
  const { job, tasks } = makeJobWithTasks(jobId, n, { createdAt });
  await fx.master.deps.repo.createJob(job, tasks, tasks.map((t, i) => makeAttempt(t, over(i))));
  return tasks.map((t) => t.taskId);
}

const ran = (at: number): Partial<Attempt> => ({
  state: "SUCCEEDED", exitCode: 0, slave: "s1", leasedAt: at, commandStartAt: at, commandEndAt: at + 65_000, reportedAt: at + 65_000, stdoutKey: "logs/orig/stdout",
});
const reused = (origin: ReuseOrigin): Partial<Attempt> => ({ state: "SUCCEEDED", exitCode: 0, reportedAt: T0 + 100_000, stdoutKey: "logs/orig/stdout", reusedFrom: origin });

beforeAll(async () => {
  fx = await makeMaster();
  server = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: fx.app.fetch });
  base = `http://127.0.0.1:${server.port}`;
  const repo = fx.master.deps.repo;
  // After every job below was made: the page's runtime counts from a job's creation to now.
  fx.clock.advance(200_000);
  originTasks = await seed(ORIGIN, 1, () => ran(T0));
  // The original's cases: one passed, one flaky (it failed once within the run), which the job page lists.
  await repo.storeCases({ jobId: ORIGIN, taskId: originTasks[0]!, attempt: 0, binary: "bin", reportedAt: T0 + 65_000 }, [
    kase("Passes"),
    kase("Wobbles", { flakyFailures: 1, message: "failed once" }),
  ]);
  hostileTasks = await seed(HOSTILE, 1, () => ran(T0));
  runningTasks = await seed(RUNNING, 1, () => ({ state: "RUNNING", slave: "s2", leasedAt: T0 + 50_000 }));
  // Reused from a past run, reused from a run in flight, waiting for one, and one that ran.
  const userAttempts: Partial<Attempt>[] = [
    reused({ jobId: ORIGIN, taskId: originTasks[0]!, attempt: 0, savedMs: 65_000, inFlight: false }),
    reused({ jobId: HOSTILE, taskId: hostileTasks[0]!, attempt: 0, savedMs: 5_000, inFlight: true }),
    { state: "QUEUED", reusedFrom: { jobId: RUNNING, taskId: runningTasks[0]!, attempt: 0, savedMs: 0, inFlight: true } },
    ran(T0 + 90_000),
  ];
  userTasks = await seed(USER, 4, (i) => userAttempts[i]!, T0 + 90_000);
  await repo.linkReusedCases(USER, [{ taskId: userTasks[0]!, attempt: 0, binary: "bin", origin: { jobId: ORIGIN, taskId: originTasks[0]!, attempt: 0 } }]);
  await seed(PLAIN, 1, () => ran(T0));
});

afterAll(async () => {
  await server?.stop(true);
  await fx?.close();
});

async function page(jobId: string): Promise<string> {
  const res = await fetch(`${base}/job?job_id=${encodeURIComponent(jobId)}`);
  expect(res.status).toBe(200);
  return res.text();
}

/** The task table's row of a task: its state cell (what a reader sees without opening the row). */
function rowOf(html: string, taskId: string): string {
  const at = html.indexOf(`data-key="${taskId}"`, html.indexOf('<table id="tasks">'));
  expect(at).toBeGreaterThan(0);
  const state = html.indexOf('<td class="state">', at);
  return html.slice(html.lastIndexOf("<tr", at), html.indexOf("</td>", state));
}

const q = (params: Record<string, string | number>) => new URLSearchParams(Object.entries(params).map(([k, v]): [string, string] => [k, String(v)])).toString().replaceAll("&", "&amp;");

test("a reused attempt is marked in words, linked to the original job and its log, with the time it saved", async () => {
  const html = await page(USER);
  const row = rowOf(html, userTasks[0]!);
  expect(row).toStartWith('<tr class="task passed"');
  expect(row).toContain("reused: did not run; the result of job ");
  expect(row).toContain(`<a class="mono" href="job?${q({ job_id: ORIGIN })}">${ORIGIN}</a> (task <span class="mono">${originTasks[0]}</span>, attempt 0,`);
  expect(row).toContain(`<a href="view_log?${q({ job_id: ORIGIN, task_id: originTasks[0]!, attempt: 0, log: "stdout" })}">log</a>)`);
  expect(row).toContain("; saved 1 m 05 s");
  expect(row).not.toContain("which ran while this waited");
  // The task that ran has no mark.
  expect(rowOf(html, userTasks[3]!)).not.toContain("reused");
});

test("a result taken from a run in flight says so; a waiting attempt names the run it waits for", async () => {
  const html = await page(USER);
  expect(rowOf(html, userTasks[1]!)).toContain(", which ran while this waited; saved 5.0 s");
  const waiting = rowOf(html, userTasks[2]!);
  expect(waiting).toStartWith('<tr class="task queued"');
  expect(waiting).toContain(`waiting for job <a class="mono" href="job?${q({ job_id: RUNNING })}">${RUNNING}</a> (task <span class="mono">${runningTasks[0]}</span>, attempt 0,`);
  // The run it waits for is going on: its live log, not the finished log's page.
  expect(waiting).toContain(`<a href="log?${q({ job_id: RUNNING, task_id: runningTasks[0]!, attempt: 0, log: "stdout" })}">live log</a>), an identical task running there`);
  expect(waiting).not.toContain("saved");
});

test("the header counts the reused tasks, those from runs in flight, the time saved and the waiting ones", async () => {
  const html = await page(USER);
  expect(html).toContain('<span id="reuse-counts">Reused: 2 (1 from runs in flight), saving 1 m 10 s of runs; waiting for identical tasks in other jobs: 1</span>');
});

test("the reused task's cases are listed with a mark naming the original run", async () => {
  const html = await page(USER);
  const item = /<li class="failed-case flaky">([\s\S]*?)<\/li>/.exec(html)![1]!;
  expect(item).toContain('<span class="mono">S.Wobbles</span> <strong>flaky</strong>');
  expect(item).toContain(`reused: the result of job <a class="mono" href="job?${q({ job_id: ORIGIN })}">${ORIGIN}</a>`);
  // The case's log link is its own job's attempt, whose logs are the original's.
  expect(item).toContain(`href="view_log?${q({ job_id: USER, task_id: userTasks[0]!, attempt: 0, log: "stdout", case: "S.Wobbles" })}">log at the failure</a>`);
});

test("an original job id holding markup and quotes is URL-encoded in links and escaped in text", async () => {
  const html = await page(USER);
  const row = rowOf(html, userTasks[1]!);
  expect(html).not.toContain("<script>alert(1)</script>");
  expect(html).not.toContain(`evil"`);
  expect(row).toContain(`href="job?job_id=evil%22%27%3Cscript%3Ealert%281%29%3C%2Fscript%3E"`);
  expect(row).toContain(">evil&quot;&#39;&lt;script&gt;alert(1)&lt;/script&gt;</a>");
});

test("a job that reused nothing shows no reuse mark or count", async () => {
  const html = await page(PLAIN);
  expect(html).not.toContain("reuse-counts");
  expect(html).not.toContain("reused");
  expect(html).not.toContain("waiting for");
});
