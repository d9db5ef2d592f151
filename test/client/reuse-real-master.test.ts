/**
 * The client's reuse output against a real master (startMasterServer on port
 * 0, a SQLite file): a job whose tasks took other runs' results, stored
 * through the Repo as the master's reuse stores them (attempts SUCCEEDED
 * with reusedFrom, the original's cases linked), read back through the
 * master's own views (counts, attempts, cases). `dt watch --junit` ends
 * with the reuse line and writes the dt.reused_from properties; `dt status`
 * says it too; the page marks it.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import status from "../../src/commands/status.ts";
import watch from "../../src/commands/watch.ts";
import { systemClock } from "../../src/common/clock.ts";
import { createLogger } from "../../src/common/log.ts";
import type { Attempt } from "../../src/master/model.ts";
import { startMasterServer } from "../../src/master/server.ts";
import { makeAttempt, makeJobWithTasks } from "../master/repo.conformance.ts";
import { useClientWorld } from "./harness.ts";
import { findAll, parseXml } from "./xml-check.ts";

const world = useClientWorld();
const ORIGIN = "orig.alice.1700000000.1";
const JOB = "again.alice.1700000100.2";
const T0 = 1_700_000_000_000;

let dir: string;
let server: Awaited<ReturnType<typeof startMasterServer>>;
let originTasks: string[];
let jobTasks: string[];

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "dt-reuse-client-"));
  server = await startMasterServer({
    port: 0, host: "127.0.0.1", db: "sqlite", dataDir: dir, clock: systemClock, log: createLogger({ level: "silent" }),
    dispatch: { leaseTtlMs: 60_000, heartbeatIntervalMs: 5_000, noResourceTimeoutMs: 600_000, maxWaitMs: 1_000, maxInfraRequeues: 3 },
  });
  const repo = server.master.deps.repo;
  const ran = (at: number, ms: number): Partial<Attempt> => ({ state: "SUCCEEDED", exitCode: 0, slave: "s1", leasedAt: at, commandStartAt: at, commandEndAt: at + ms, reportedAt: at + ms });
  // The original: two tasks that ran, 40 and 20 minutes, with their cases.
  const origin = makeJobWithTasks(ORIGIN, 2, { createdAt: T0 });
  await repo.createJob(origin.job, origin.tasks, origin.tasks.map((t, i) => makeAttempt(t, ran(T0, [2_400_000, 1_200_000][i]!))));
  originTasks = origin.tasks.map((t) => t.taskId);
  for (const [i, taskId] of originTasks.entries()) {
    await repo.storeCases({ jobId: ORIGIN, taskId, attempt: 0, binary: `bin${i}`, reportedAt: T0 }, [{ suite: "S", name: `case${i}`, status: "passed", durationMs: 7, message: null, file: null, line: null }]);
  }
  // The job again: the first task reused from the past run, the second from one it waited for, the third ran.
  const again = makeJobWithTasks(JOB, 3, { createdAt: T0 + 100_000 });
  jobTasks = again.tasks.map((t) => t.taskId);
  const attempts: Partial<Attempt>[] = [
    { state: "SUCCEEDED", exitCode: 0, reportedAt: T0 + 100_000, reusedFrom: { jobId: ORIGIN, taskId: originTasks[0]!, attempt: 0, savedMs: 2_400_000, inFlight: false } },
    { state: "SUCCEEDED", exitCode: 0, reportedAt: T0 + 100_000, reusedFrom: { jobId: ORIGIN, taskId: originTasks[1]!, attempt: 0, savedMs: 1_200_000, inFlight: true } },
    ran(T0 + 100_000, 3_000),
  ];
  await repo.createJob(again.job, again.tasks, again.tasks.map((t, i) => makeAttempt(t, attempts[i]!)));
  await repo.linkReusedCases(JOB, [0, 1].map((i) => ({ taskId: jobTasks[i]!, attempt: 0, origin: { jobId: ORIGIN, taskId: originTasks[i]!, attempt: 0 } })));
});

afterAll(async () => {
  await server?.stop(1_000);
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test("dt watch --junit: the reuse line from the master's counts, and each reused case's testcase names its original run", async () => {
  const w = await world();
  w.env.DIST_TEST_MASTER = server.url;
  const junit = join(w.dir, "junit.xml");
  const r = await w.run(watch, ["--junit", junit, JOB]);
  expect(r.stderr).toBe("");
  expect(r.code).toBe(0);
  expect(r.stdout.trimEnd().split("\n").slice(-2)).toEqual([
    "2 cases: 2 passed, 0 failed",
    "3 tasks: 2 reused (1 from runs in flight), 1 ran; reuse saved 1h00m of runs",
  ]);
  const cases = findAll(parseXml(readFileSync(junit, "utf8")), "testcase");
  const property = (name: string) => findAll(cases.find((c) => c.attrs.name === name)!, "property").map((p) => [p.attrs.name, p.attrs.value]);
  expect(property("case0")).toEqual([["dt.reused_from", `${ORIGIN}/${originTasks[0]}/0`]]);
  expect(property("case1")).toEqual([["dt.reused_from", `${ORIGIN}/${originTasks[1]}/0`]]);
  // The task that ran reported no cases: one testcase of its own, without the property.
  expect(property("test 2")).toEqual([]);
});

test("dt status and the job page say the same", async () => {
  const w = await world();
  w.env.DIST_TEST_MASTER = server.url;
  const r = await w.run(status, [JOB]);
  expect(r.stdout).toContain("  2 reused (1 from runs in flight), saving 1h00m of runs\n");
  const html = await (await fetch(`${server.url}/job?job_id=${JOB}`)).text();
  expect(html).toContain('<span id="reuse-counts">Reused: 2 (1 from runs in flight), saving 1 h 00 m of runs</span>');
  expect(html).toContain(`reused: did not run; the result of job <a class="mono" href="job?job_id=${ORIGIN}">${ORIGIN}</a>`);
});
