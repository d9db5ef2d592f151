/**
 * `dt watch` against a real master: it hears of every change (and the end)
 * from a held request, not at its next poll; against a master that answers
 * at once unchanged it polls as before.
 */
import { afterEach, expect, test } from "bun:test";
import { runCommand } from "citty";
import { systemClock } from "../../src/common/clock.ts";
import type { ClientIo } from "../../src/client/io.ts";
import watch from "../../src/commands/watch.ts";
import { HASH, report, serveTestMasterApp, slave } from "../master/helpers.ts";
import { summaryOf } from "./fake-master.ts";
import { Captured, useClientWorld } from "./harness.ts";
import { TempDirs } from "../helpers/temp.ts";

const world = useClientWorld();
const temps = new TempDirs();
const served: Awaited<ReturnType<typeof serveTestMasterApp>>[] = [];
afterEach(async () => {
  for (const s of served.splice(0)) await s.stop();
  await temps.cleanup();
});

/** Resolves when `cond` holds, polling every 5 ms; fails after `ms`. */
async function until(cond: () => boolean, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await Bun.sleep(5);
  }
}

test("watch learns of each result and of the job's end from a held request, with a 10 s poll interval", async () => {
  const s = await serveTestMasterApp();
  served.push(s);
  const { master } = s.h;
  await master.submitJob({ job_id: "alice.1700000000.1", tasks: [{ isolate_hash: HASH, description: "a" }, { isolate_hash: HASH, description: "b" }] });
  const [first, second] = await master.dispatcher.lease({ slave: slave(), free: 2, wait_ms: 0 });
  const dir = await temps.make("dt-watch-lp-");
  const stdout = new Captured();
  const sleeps: number[] = [];
  let code = -1;
  const io: ClientIo = {
    stdout, stderr: new Captured(), isTTY: false, color: false, clock: systemClock,
    sleep: async (ms) => void sleeps.push(ms),
    env: { HOME: dir, DIST_TEST_JOB_PATH: `${dir}/last-job` }, fetch, retry: { attempts: 1, delayMs: 5 }, pid: 1, downloadConcurrency: 1,
    interrupt: new AbortController().signal, setExitCode: (c) => void (code = c),
  };
  const running = runCommand(watch, { rawArgs: ["--master", s.url, "--poll-interval", "10", "alice.1700000000.1"], data: { io } });
  await until(() => master.changeWaiters.size === 1);
  await master.dispatcher.report(report(first!, "SUCCEEDED", s.h.clock.now()));
  // The held request was answered within the report; the watch asks again at once with the new version.
  expect(master.changeWaiters.size).toBe(0);
  await until(() => master.changeWaiters.size === 1, 3_000);
  const reportedAt = performance.now();
  await master.dispatcher.report(report(second!, "SUCCEEDED", s.h.clock.now()));
  await running;
  // Polling every 10 s would take up to 10 s; the held request answers in milliseconds (slack for a loaded machine).
  expect(performance.now() - reportedAt).toBeLessThan(2_000);
  // The line for the first result was held back (one line per poll interval at most); the final one never is.
  expect(stdout.text).not.toContain("1/2 tests complete");
  expect(stdout.text).toContain("2/2 tests complete");
  expect(sleeps).toEqual([]);
  expect(code).toBe(0);
});

test("Ctrl-C during a held request ends the watch at once (exit 1), not when the hold would", async () => {
  const s = await serveTestMasterApp();
  served.push(s);
  const { master } = s.h;
  await master.submitJob({ job_id: "alice.1700000000.2", tasks: [{ isolate_hash: HASH, description: "a" }] });
  const dir = await temps.make("dt-watch-lp-");
  const interrupt = new AbortController();
  let code = -1;
  const io: ClientIo = {
    stdout: new Captured(), stderr: new Captured(), isTTY: false, color: false, clock: systemClock, sleep: async () => {},
    env: { HOME: dir, DIST_TEST_JOB_PATH: `${dir}/last-job` }, fetch, retry: { attempts: 1, delayMs: 5 }, pid: 1, downloadConcurrency: 1,
    interrupt: interrupt.signal, setExitCode: (c) => void (code = c),
  };
  const running = runCommand(watch, { rawArgs: ["--master", s.url, "alice.1700000000.2"], data: { io } });
  await until(() => master.changeWaiters.size === 1);
  const started = performance.now();
  interrupt.abort();
  await running;
  expect(performance.now() - started).toBeLessThan(2_000);
  expect(code).toBe(1);
  // The master let go of it too.
  await until(() => master.changeWaiters.size === 0);
});

test("a master that answers a long-poll at once, unchanged (its cap reached), is polled every poll interval", async () => {
  const w = await world();
  const JOB = "alice.1700000000.7";
  const v = { change_version: "boot.3" };
  w.master.addJob(JOB, {
    frames: [summaryOf(JOB, { total_tasks: 1, running: 1 }, v), summaryOf(JOB, { total_tasks: 1, running: 1 }, v), summaryOf(JOB, { total_tasks: 1, finished: 1, succeeded: 1 }, { change_version: "boot.4" })],
    tasks: [],
  });
  const r = await w.run(watch, [JOB]);
  expect(r.code).toBe(0);
  // The first answer is news (no version before it); the second, unchanged, is followed by the poll interval.
  expect(w.sleeps).toEqual([1000]);
  const polls = w.master.requests.filter((q) => q.path.startsWith(`/api/v1/jobs/${JOB}`)).map((q) => q.path);
  expect(polls).toEqual([`/api/v1/jobs/${JOB}`, `/api/v1/jobs/${JOB}?wait_version=boot.3&wait_ms=25000`, `/api/v1/jobs/${JOB}?wait_version=boot.3&wait_ms=25000`]);
});

test("on a big job, an answer that brought a change is followed by a gap per task before the next request, at most the poll interval", async () => {
  const w = await world();
  const JOB = "alice.1700000000.8";
  const frame = (finished: number, version: string) => summaryOf(JOB, { total_tasks: 50_000, finished, succeeded: finished, running: 50_000 - finished }, { change_version: version });
  w.master.addJob(JOB, { frames: [frame(0, "b.1"), frame(10, "b.2"), frame(50_000, "b.3")], tasks: [] });
  const r = await w.run(watch, [JOB]);
  expect(r.code).toBe(0);
  // 50,000 tasks × 0.01 ms: half a second between reads of a job this big while it keeps changing.
  expect(w.sleeps).toEqual([500, 500]);
});
