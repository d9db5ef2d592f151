/**
 * Failures printed as they happen, before the job ends; infrastructure
 * losses named as such and kept out of the test's retries.
 */
import { expect, test } from "bun:test";
import { MasterClient } from "../../src/client/api.ts";
import type { JobCounts, JobSummary } from "../../src/master/protocol.ts";
import { FailureFeed, MAX_LIVE_FAILURES } from "../../src/client/failures.ts";
import { failureReport } from "../../src/client/summary.ts";
import { createLogger } from "../../src/common/log.ts";
import watch from "../../src/commands/watch.ts";
import { REWRITE_LINE } from "../../src/client/progress.ts";
import { attemptOf, summaryOf, taskOf } from "./fake-master.ts";
import { useClientWorld } from "./harness.ts";

const world = useClientWorld();
const JOB = "alice.1700000000.9";

const failedThenRetried = () =>
  taskOf("h.0", "bad-test", "retrying", [
    attemptOf(0, "FAILED", { exit_code: 2, stderr_link: "/api/v1/artifacts/bad.stderr", reported_at: 1_700_000_005_000 }),
    attemptOf(1, "QUEUED", { retry: 1, exit_code: null }),
  ]);
const lostThenRequeued = () => ({
  ...taskOf("h.1", "slow-test", "queued", [
    attemptOf(0, "SLAVE_LOST", { exit_code: null, slave: "slave-2", message: "slave slave-2 stopped heartbeating", reported_at: 1_700_000_006_000 }),
    attemptOf(1, "QUEUED", { retry: 0, exit_code: null }),
  ]),
  max_retries: 2,
});

/** A master from before `counts.requeues`: it counted an infrastructure requeue among the retries. */
const olderMaster = (summary: JobSummary): JobSummary => {
  const { requeues: _requeues, ...counts } = summary.counts;
  return { ...summary, counts: counts as JobCounts };
};

for (const master of ["today's", "an older"] as const) {
  test(`off a TTY, each failure is printed when the watch sees it, once, with its log link; a lost slave is an infrastructure loss, not a retry (${master} master)`, async () => {
    const w = await world();
    const bad = { ...failedThenRetried(), max_retries: 2 };
    w.master.addJob(JOB, {
      frames: [
        summaryOf(JOB, { total_tasks: 3, running: 3 }),
        // Today's master counts the requeue apart; an older one counted it among the retries (2 = 1 retry + 1 requeue).
        ...[
          { total_tasks: 3, finished: 1, succeeded: 1, running: 1, queued: 1 },
          { total_tasks: 3, finished: 1, succeeded: 1, running: 2 },
          { total_tasks: 3, finished: 3, succeeded: 2, failed: 1 },
        ].map((counts) => (master === "today's" ? summaryOf(JOB, { ...counts, retries: 1, requeues: 1 }) : olderMaster(summaryOf(JOB, { ...counts, retries: 2 })))),
      ],
      troubles: [[], [bad, lostThenRequeued()], [bad, lostThenRequeued()], [bad, lostThenRequeued()]],
      tasks: [],
    });
    const r = await w.run(watch, [JOB]);
    expect(r.stdout.split("\n").slice(0, 6)).toEqual([
      " 0.0s\t 0/3 tests complete (3 running, 0 queued)",
      "FAILED bad-test (task h.0), attempt 0: exit 2, on slave-1; retry 1 of 2 queued",
      `  stderr: ${w.master.url}/api/v1/artifacts/bad.stderr`,
      "INFRASTRUCTURE SLAVE_LOST slow-test (task h.1), attempt 0: slave slave-2 stopped heartbeating, on slave-2; requeued, not one of the test's retries",
      " 1.0s\t 1/3 tests complete (1 retries) (1 requeued after infrastructure losses) (1 running, 1 queued)",
      " 2.0s\t 1/3 tests complete (1 retries) (1 requeued after infrastructure losses) (2 running, 0 queued)",
    ]);
    // Printed once, however many times the master tells of it.
    expect(r.stdout.match(/^FAILED bad-test \(task h\.0\), attempt 0/gm)).toHaveLength(1);
    const troubleReads = w.master.requests.filter((q) => q.path.includes("trouble_since"));
    // Read only when the counts said something more ended in trouble (frames 2 and 4, not 3), the second time
    // from 30 s before the latest failure printed (a result stored late is not missed).
    expect(troubleReads.map((q) => q.path)).toEqual([`/api/v1/jobs/${JOB}/tasks?trouble_since=0&limit=200`, `/api/v1/jobs/${JOB}/tasks?trouble_since=${1_700_000_006_000 - 30_000}&limit=200`]);
    expect(r.code).toBe(88);
  });
}

test("a master that counts requeues apart is taken at its word", async () => {
  const w = await world();
  w.master.addJob(JOB, {
    frames: [
      summaryOf(JOB, { total_tasks: 2, running: 2 }),
      summaryOf(JOB, { total_tasks: 2, finished: 2, succeeded: 2, retries: 1, requeues: 1 }),
    ],
    troubles: [[], [lostThenRequeued()]],
    tasks: [],
  });
  const r = await w.run(watch, [JOB]);
  expect(r.stdout).toContain(" 1.0s\t 2/2 tests complete (1 retries) (1 requeued after infrastructure losses)\n");
  expect(r.code).toBe(0);
});

test("on a terminal, a failure takes the progress line's place and the line is redrawn below it", async () => {
  const w = await world();
  w.master.addJob(JOB, {
    frames: [summaryOf(JOB, { total_tasks: 2, running: 2 }), summaryOf(JOB, { total_tasks: 2, finished: 2, succeeded: 1, failed: 1 })],
    troubles: [[], [taskOf("h.2", "t", "failed", [attemptOf(0, "TIMED_OUT", { exit_code: null, message: "timed out" })])]],
    tasks: [taskOf("h.2", "t", "failed", [attemptOf(0, "TIMED_OUT", { exit_code: null, message: "timed out" })])],
  });
  const r = await w.run(watch, [JOB], { tty: true });
  const lines = r.stdout.split("\n");
  expect(lines[0]).toStartWith("0/2 done");
  expect(lines[1]).toBe(`${REWRITE_LINE}TIMED_OUT t (task h.2), attempt 0: timed out, on slave-1; no retries`);
  // Not a rewrite: the failure above stays on screen.
  expect(lines[2]!.startsWith(REWRITE_LINE)).toBe(false);
  expect(lines[2]).toContain("2/2 done");
});

test("a burst of failures is one read: a read within the interval of the last is owed, and due when the interval ends", async () => {
  const w = await world();
  const api = new MasterClient(w.master.url, { retry: { attempts: 1, delayMs: 1 } });
  w.master.addJob(JOB, { frames: [summaryOf(JOB, { total_tasks: 3, running: 3 })], troubles: [[failedThenRetried()]], tasks: [] });
  const feed = new FailureFeed(api, JOB, async () => [], createLogger({ level: "silent" }), 1_000);
  const reads = () => w.master.requests.filter((q) => q.path.includes("trouble_since")).length;
  const running = (retries: number) => summaryOf(JOB, { total_tasks: 3, running: 3, retries });
  expect(await feed.check(running(1), 0)).toHaveLength(1);
  expect(await feed.check(running(2), 100)).toEqual([]);
  expect([reads(), feed.dueInMs(100)]).toEqual([1, 900]);
  await feed.check(running(2), 1_000);
  expect([reads(), feed.dueInMs(1_000)]).toEqual([2, undefined]);
  // The final summary reads at once, whatever the interval.
  await feed.check(summaryOf(JOB, { total_tasks: 3, finished: 3, failed: 1, retries: 2 }), 1_001);
  expect(reads()).toBe(3);
});

test("the final report names an infrastructure loss as such", async () => {
  const w = await world();
  const lost = attemptOf(0, "SLAVE_LOST", { exit_code: null, message: "slave s2 stopped heartbeating", slave: "s2" });
  w.master.addJob(JOB, {
    frames: [summaryOf(JOB, { total_tasks: 1, finished: 1, failed: 1, retries: 1 })],
    tasks: [taskOf("h.1", "t", "failed", [lost, attemptOf(1, "FAILED", { retry: 0 })])],
  });
  const r = await w.run(watch, [JOB]);
  expect(r.stdout).toContain("  attempt 0: SLAVE_LOST (infrastructure, not a test failure), slave s2 stopped heartbeating, on s2\n  attempt 1: FAILED, exit 1, on slave-1\n");
  expect(r.code).toBe(88);
});

test(`a job with more failures than ${MAX_LIVE_FAILURES}: that many are printed as they happen, then one line says so and the feed reads no more`, async () => {
  const w = await world();
  const api = new MasterClient(w.master.url, { retry: { attempts: 1, delayMs: 1 } });
  const failed = Array.from({ length: 300 }, (_, i) => taskOf(`h.${i}`, `t${i}`, "failed", [attemptOf(0, "FAILED", { reported_at: 1_700_000_000_000 + i })]));
  w.master.addJob(JOB, { frames: [summaryOf(JOB, { total_tasks: 300, running: 300 })], troubles: [failed], tasks: [] });
  const feed = new FailureFeed(api, JOB, async () => [], createLogger({ level: "silent" }));
  const reads = () => w.master.requests.filter((q) => q.path.includes("trouble_since"));
  const lines = await feed.check(summaryOf(JOB, { total_tasks: 300, finished: 150, failed: 150, running: 150 }), 0);
  expect(lines).toHaveLength(MAX_LIVE_FAILURES + 1);
  expect(lines[0]).toStartWith("FAILED t0 ");
  expect(lines[MAX_LIVE_FAILURES - 1]).toStartWith(`FAILED t${MAX_LIVE_FAILURES - 1} `);
  expect(lines.at(-1)).toBe(`(${MAX_LIVE_FAILURES} failed attempts printed as they happened: no more until the report at the end)`);
  // The read asked for a bounded page: twice the cap covers the overlap's repeats.
  expect(reads().map((q) => new URL(q.path, "http://x").searchParams.get("limit"))).toEqual([String(2 * MAX_LIVE_FAILURES)]);
  expect(await feed.check(summaryOf(JOB, { total_tasks: 300, finished: 300, failed: 300 }), 10_000)).toEqual([]);
  expect(reads()).toHaveLength(1);
});

test("escape sequences in an attempt's message or a description are shown, not acted on, as they happen and in the final report", async () => {
  const w = await world();
  const api = new MasterClient(w.master.url, { retry: { attempts: 1, delayMs: 1 } });
  // A slave's message (or an operator's hold reason in a NO_RESOURCE one) is free text: here one that would retitle and clear the terminal.
  const hostile = taskOf("h.0", "name\u009b2J", "failed", [attemptOf(0, "FAILED", { message: "boom\x1b]0;owned\x07\x1b[2J\nsecond line", reported_at: 1 })]);
  w.master.addJob(JOB, { frames: [summaryOf(JOB, { total_tasks: 1, running: 1 })], troubles: [[hostile]], tasks: [] });
  const feed = new FailureFeed(api, JOB, async () => [], createLogger({ level: "silent" }));
  const [line] = await feed.check(summaryOf(JOB, { total_tasks: 1, finished: 1, failed: 1 }), 0);
  expect(line).toBe("FAILED name\\x9b2J (task h.0), attempt 0: exit 1, boom\\x1b]0;owned\\x07\\x1b[2J second line, on slave-1; no retries");
  const report = failureReport(summaryOf(JOB, { total_tasks: 1, finished: 1, failed: 1 }), [hostile], (l) => l).join("\n");
  expect(report).not.toMatch(/[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/);
  expect(report).toContain("boom\\x1b]0;owned\\x07\\x1b[2J second line");
});
