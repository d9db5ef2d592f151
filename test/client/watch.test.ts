import { expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import watch from "../../src/commands/watch.ts";
import { REWRITE_LINE } from "../../src/client/progress.ts";
import { attemptOf, summaryOf, taskOf } from "./fake-master.ts";
import { useClientWorld } from "./harness.ts";

const world = useClientWorld();
const JOB = "alice.1700000000.7";

/** dist_test's captured example, one poll per frame; the repeated frame prints nothing. */
function failingJob() {
  return {
    frames: [
      summaryOf(JOB, { total_tasks: 3, finished: 1, succeeded: 1, running: 1, queued: 1 }),
      summaryOf(JOB, { total_tasks: 3, finished: 1, succeeded: 1, running: 1, queued: 1 }),
      summaryOf(JOB, { total_tasks: 3, finished: 2, succeeded: 1, flaky: 1, running: 1, retries: 1 }),
      summaryOf(JOB, { total_tasks: 3, finished: 3, succeeded: 1, flaky: 1, failed: 1, retries: 1 }),
    ],
    tasks: [
      taskOf("h1.0", "ok-test", "succeeded", [attemptOf(0, "SUCCEEDED")]),
      taskOf("h1.1", "flaky-test", "flaky", [attemptOf(0, "FAILED", { stdout_link: "/api/v1/artifacts/f0.stdout", stderr_link: "/api/v1/artifacts/f0.stderr" }), attemptOf(1, "SUCCEEDED")]),
      taskOf("h1.2", "bad-test", "failed", [attemptOf(0, "FAILED", { exit_code: 2, stdout_link: "https://s3.example/b.stdout?sig=1", stderr_link: "/api/v1/artifacts/b.stderr" })]),
    ],
  };
}

test("off a TTY, watch prints dist_test's line when something changed, then the failed and flaky tasks with links, and exits 88", async () => {
  const w = await world();
  w.master.addJob(JOB, failingJob());
  const r = await w.run(watch, [JOB]);
  const lines = r.stdout.split("\n");
  expect(lines.slice(0, 3)).toEqual([
    " 0.0s\t 1/3 tests complete (1 running, 1 queued)",
    " 2.0s\t 2/3 tests complete (1 retries) (1 running, 0 queued)",
    " 3.0s\t 3/3 tests complete (1 failed) (1 retries)",
  ]);
  expect(lines.slice(3).join("\n")).toBe(
    [
      `Job ${JOB}: 2 of 3 tasks passed (1 flaky); 1 failed`,
      "FAILED bad-test (task h1.2, 1 attempt)",
      "  attempt 0: FAILED, exit 2, on slave-1",
      "    stdout: https://s3.example/b.stdout?sig=1",
      `    stderr: ${w.master.url}/api/v1/artifacts/b.stderr`,
      "FLAKY flaky-test (task h1.1, 2 attempts)",
      "  attempt 0: FAILED, exit 1, on slave-1",
      `    stdout: ${w.master.url}/api/v1/artifacts/f0.stdout`,
      `    stderr: ${w.master.url}/api/v1/artifacts/f0.stderr`,
      "",
    ].join("\n"),
  );
  expect(r.code).toBe(88);
  expect(w.sleeps).toEqual([1000, 1000, 1000]);
});

test("a job whose only trouble was a flaky task exits 0; --poll-interval sets the wait between polls", async () => {
  const w = await world();
  w.master.addJob(JOB, {
    frames: [summaryOf(JOB, { total_tasks: 1, running: 1 }), summaryOf(JOB, { total_tasks: 1, finished: 1, flaky: 1, retries: 1 })],
    tasks: [taskOf("h.0", "t", "flaky", [attemptOf(0, "FAILED"), attemptOf(1, "SUCCEEDED")])],
  });
  const r = await w.run(watch, ["--poll-interval", "2.5", JOB]);
  expect(r.code).toBe(0);
  expect(r.stdout).toContain("FLAKY t (task h.0, 2 attempts)");
  expect(w.sleeps).toEqual([2500]);
});

test("a canceled job exits 88", async () => {
  const w = await world();
  w.master.addJob(JOB, { frames: [summaryOf(JOB, { total_tasks: 2, finished: 2, succeeded: 1, canceled: 1 }, { canceled_at: 1 })], tasks: [taskOf("h.0", "t", "canceled", [])] });
  const r = await w.run(watch, [JOB]);
  expect(r.stdout).toContain("CANCELED t (task h.0, 0 attempts)");
  expect(r.code).toBe(88);
});

test("on a TTY, watch rewrites one line in place with counts, elapsed time and the estimate of time left", async () => {
  const w = await world();
  w.master.addJob(JOB, {
    frames: [
      summaryOf(JOB, { total_tasks: 2, running: 1, queued: 1 }, { estimated_remaining_sec: 125 }),
      summaryOf(JOB, { total_tasks: 2, finished: 2, succeeded: 2, retries: 1 }),
    ],
    tasks: [],
  });
  const r = await w.run(watch, [JOB], { tty: true });
  const [first, second] = r.stdout.split("\n");
  expect(first).toBe("0/2 done, 0 failed, 0 retried, 1 running, 1 queued, 0s, ~2m05s left");
  expect(second!.startsWith(REWRITE_LINE)).toBe(true);
  expect(second).toContain("2/2 done");
  expect(second).toContain("\x1b[33m1 retried\x1b[0m");
  expect(second!.startsWith(`${REWRITE_LINE}\x1b[32m`)).toBe(true);
  expect(r.code).toBe(0);
});

test("watching a job that does not exist fails at once, naming the id", async () => {
  const w = await world();
  const r = await w.run(watch, ["nobody.1.2"]);
  expect(r.code).toBe(3);
  expect(r.stderr).toBe(`dt: no job "nobody.1.2" on the master at ${w.master.url}; check the id, or list recent jobs with dt jobs\n`);
  expect(w.master.requests).toHaveLength(1);
});

test("with no job argument, watch uses the job path file and says so; without that file it says what to do", async () => {
  const w = await world();
  const missing = await w.run(watch, []);
  expect(missing.code).toBe(3);
  expect(missing.stderr).toContain(`${w.jobPath} does not exist; pass a job id`);
  writeFileSync(w.jobPath, JOB);
  w.master.addJob(JOB, { frames: [summaryOf(JOB, { total_tasks: 1, finished: 1, succeeded: 1 })], tasks: [] });
  const r = await w.run(watch, []);
  expect(r.stderr).toContain(`Using most recently submitted job id: ${JOB}`);
  expect(r.code).toBe(0);
});

test("Ctrl-C during a watch exits 1 and leaves the job alone", async () => {
  const w = await world();
  w.master.addJob(JOB, { frames: [summaryOf(JOB, { total_tasks: 1, running: 1 })], tasks: [] });
  const interrupt = new AbortController();
  w.master.onPoll = (_job, poll) => {
    if (poll === 2) interrupt.abort();
  };
  const r = await w.run(watch, [JOB], { interrupt: interrupt.signal });
  expect(r.code).toBe(1);
  expect(r.stderr).toContain(`dt cancel ${JOB} to stop it`);
  expect(w.master.requests.some((q) => q.path.endsWith("/cancel"))).toBe(false);
});

test("a master that answers 503 is polled again with a doubling wait, and the watch goes on", async () => {
  const w = await world();
  w.master.addJob(JOB, { frames: [summaryOf(JOB, { total_tasks: 1, finished: 1, succeeded: 1 })], tasks: [] });
  w.master.failPolls = 3;
  const r = await w.run(watch, [JOB]);
  expect(r.code).toBe(0);
  expect(w.sleeps).toEqual([2000, 4000, 8000]);
  expect(r.stderr).toContain("database is restarting; polling again in 2s (1 of 10 tries failed)");
  expect(r.stdout).toBe(" 14.0s\t 1/1 tests complete\n");
});
