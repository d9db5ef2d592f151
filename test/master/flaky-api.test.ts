/**
 * GET /api/v1/tests/flaky on a real master whose history came from real
 * jobs (flaky-history.ts): the flaky case with its counts, rate and latest
 * failure, whose log link serves that attempt's log and whose history link
 * the case's history; the parameters (since, min_runs, limit, binary); and
 * malformed or hostile parameters answered 400 naming the parameter and
 * what to pass.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import type { CaseHistory, FlakyCases } from "../../src/master/protocol.ts";
import { type FlakyHistory, kase, startFlakyHistory } from "./flaky-history.ts";

let h: FlakyHistory;
beforeAll(async () => {
  h = await startFlakyHistory();
});
afterAll(() => h?.stop());

async function flaky(query: string): Promise<FlakyCases> {
  const res = await fetch(`${h.url}/api/v1/tests/flaky${query}`);
  expect(res.status, await res.clone().text()).toBe(200);
  return (await res.json()) as FlakyCases;
}

async function expect400(query: string, message: RegExp): Promise<void> {
  const res = await fetch(`${h.url}/api/v1/tests/flaky${query}`);
  const body = (await res.json()) as { error: string; code: string };
  expect(res.status, `${query}: ${body.error}`).toBe(400);
  expect(body.code).toBe("invalid_input");
  expect(body.error).toMatch(message);
}

test("the case that failed then passed on its retry is flaky in 1 of the 2 jobs that ran it, with its failure's log and its history", async () => {
  const answer = await flaky("");
  expect(answer.min_runs).toBe(1);
  expect(answer.binary).toBeNull();
  // The default window is the last 7 days of the master's clock.
  expect(Math.abs(answer.since - (Date.now() - 7 * 86_400_000))).toBeLessThan(60_000);
  const f = h.failing;
  expect(answer.cases).toEqual([
    {
      binary: "unit_tests", suite: "Net", name: "Retry", jobs: 2, runs: 3, failures: 1, flaky: 1, flake_rate: 0.5,
      last_failure: {
        job_id: "flaky.1", task_id: f.task_id, attempt: 0, status: "failed", reported_at: expect.any(Number), message: "timeout\nafter 5 s",
        log_link: `${h.url}/view_log?job_id=flaky.1&task_id=${encodeURIComponent(f.task_id)}&attempt=0&log=stdout`,
      },
      history_link: `${h.url}/api/v1/tests/history?binary=unit_tests&suite=Net&case=Retry`,
    },
  ]);
  const c = answer.cases[0]!;
  const log = await fetch(c.last_failure!.log_link);
  expect(log.status).toBe(200);
  expect(await log.text()).toContain(h.failingLog.trim());
  const history = (await (await fetch(c.history_link)).json()) as CaseHistory;
  expect(history.results.map((r) => [r.job_id, r.attempt, r.status])).toEqual([["flaky.2", 0, "passed"], ["flaky.1", 1, "passed"], ["flaky.1", 0, "failed"]]);
});

test("min_runs counts jobs, binary filters, limit bounds, since moves the window (duration, epoch ms, ISO date)", async () => {
  expect((await flaky("?min_runs=2")).cases.map((c) => c.name)).toEqual(["Retry"]);
  expect((await flaky("?min_runs=3")).cases).toEqual([]);
  expect((await flaky("?binary=unit_tests&limit=1")).cases.map((c) => c.name)).toEqual(["Retry"]);
  expect((await flaky("?binary=other_tests")).cases).toEqual([]);
  expect((await flaky("?since=1h")).cases).toHaveLength(1);
  expect((await flaky(`?since=${Date.now() + 3_600_000}`)).cases).toEqual([]);
  const tomorrow = new Date(Date.now() + 86_400_000).toISOString().slice(0, 10);
  const answer = await flaky(`?since=${tomorrow}`);
  expect(answer.since).toBe(Date.parse(`${tomorrow}T00:00:00Z`));
  expect(answer.cases).toEqual([]);
});

test("a second binary's flaky case ranks by rate: flaky in its only job beats 1 in 2", async () => {
  await h.runJob("flaky.3", "net_tests", [
    { state: "FAILED", cases: [kase("Dns", "Resolves", "crashed", "SIGSEGV")] },
    { state: "SUCCEEDED", cases: [kase("Dns", "Resolves", "passed")] },
  ]);
  const answer = await flaky("");
  expect(answer.cases.map((c) => [c.binary, c.name, c.flaky, c.jobs, c.flake_rate, c.last_failure?.status])).toEqual([
    ["net_tests", "Resolves", 1, 1, 1, "crashed"],
    ["unit_tests", "Retry", 1, 2, 0.5, "failed"],
  ]);
  expect((await flaky("?limit=1")).cases.map((c) => c.name)).toEqual(["Resolves"]);
  expect((await flaky("?min_runs=2")).cases.map((c) => c.name)).toEqual(["Retry"]);
  expect((await flaky("?binary=net_tests")).cases.map((c) => c.name)).toEqual(["Resolves"]);
});

test("malformed and hostile parameters are a 400 naming the parameter and what to pass", async () => {
  const since = /^since: cannot read .* write a duration back from now \(7d, 12h, 1h30m\), epoch milliseconds \(1700000000000\) or an ISO date/;
  for (const bad of ["soon", "7+weeks", "-7d", "2024-02-31", "7d%3Bdrop", "%3Cscript%3E", "", "1e12"]) await expect400(`?since=${bad}`, since);
  for (const bad of ["0", "-1", "abc", "1.5", "99999999", ""]) await expect400(`?min_runs=${bad}`, /^min_runs: must be an integer from 1 to 1000000 \(the jobs a case must have run in\)/);
  for (const bad of ["0", "1001", "x", ""]) await expect400(`?limit=${bad}`, /^limit: must be an integer from 1 to 1000/);
  await expect400("?binary=", /^binary: must be a test binary's name .* of 1 to 255 characters, got 0/);
  await expect400(`?binary=${"b".repeat(256)}`, /^binary: .* got 256/);
  await expect400("?sinse=7d", /^sinse: is not a parameter of this request \(known: since, min_runs, limit, binary\)/);
  await expect400("?__proto__=1", /^__proto__: is not a parameter/);
  // A binary with markup or quotes is a name like any other: no match, no error.
  expect((await flaky(`?binary=${encodeURIComponent(`<script>'"`)}`)).cases).toEqual([]);
});
