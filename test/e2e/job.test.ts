/**
 * A whole job on real processes: `dt master`, two `dt slave`s, `dt submit`,
 * `dt status --json` and `dt fetch`, with every outcome a task can have.
 */
import { describe, expect, test } from "bun:test";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { safe } from "../../src/client/fetch.ts";
import type { JobSummary, TaskView } from "../../src/master/protocol.ts";
import { shellScript } from "../helpers/tree.ts";
import { processAlive, waitUntil } from "../helpers/wait.ts";
import { E2E_TEST_TIMEOUT_MS, phaseTimes, taskNamed, useCluster } from "./cluster.ts";
import { RECORD_PID, recordedPid } from "./processes.ts";

const setup = useCluster();

/** One tree for every task; each task's manifest names its own script. */
const SUITE = {
  "pass.sh": shellScript('echo "passing"\nmkdir -p test-logs/sub\necho "kept by the passing test" > test-logs/sub/pass.log'),
  "fail.sh": shellScript('echo "about to fail" >&2\nexit 3'),
  "flaky.sh": shellScript('echo "attempt $DT_ATTEMPT"\n[ "$DT_ATTEMPT" = 0 ] && exit 1\nexit 0'),
  "slow.sh": shellScript(`${RECORD_PID}\nexec sleep 30`),
  "shard.sh": shellScript('echo "shard $GTEST_SHARD_INDEX/$GTEST_TOTAL_SHARDS"'),
};

describe("dt submit on a master with two slaves", () => {
  test("passing, failing, flaky, timed-out and sharded tasks: exit 88, summary, status, fetch, attempts", async () => {
    const c = await setup();
    await c.startMaster();
    await Promise.all([c.startSlave("s1"), c.startSlave("s2")]);
    const hash = async (script: string) => c.archive(SUITE, [`./${script}`]);
    const tasks = [
      { isolate_hash: await hash("pass.sh"), description: "passing_test", artifact_archive_globs: ["test-logs/**"] },
      { isolate_hash: await hash("fail.sh"), description: "failing_test" },
      { isolate_hash: await hash("flaky.sh"), description: "flaky_test", max_retries: 1 },
      { isolate_hash: await hash("slow.sh"), description: "timeout_test", timeout: 2 },
      { isolate_hash: await hash("shard.sh"), description: "sharded_test", shards: 3 },
    ];
    writeFileSync(join(c.dir, "tasks.json"), JSON.stringify({ tasks }));

    const submitted = await c.dt(["submit", "tasks.json", "--poll-interval", "0.2"]);
    expect(submitted.exitCode, submitted.stderr).toBe(88);
    const jobId = readFileSync(join(c.env.HOME!, ".dist-test-last-job"), "utf8");
    expect(jobId).toMatch(/^e2e\.\d+\.\d+$/);
    expect(submitted.stderr).toContain(`Watch your results at ${c.master!.url}/job?job_id=${jobId}`);

    // Off a TTY: dist_test's plain lines, one per change, no cursor movement, ending on the final counts.
    const progress = submitted.stdout.split("\n").filter((l) => /tests complete/.test(l));
    expect(progress.length).toBeGreaterThan(0);
    for (const line of progress) expect(line).toMatch(/^ \d+\.\ds\t \d+\/7 tests complete/);
    expect(submitted.stdout).not.toContain("\x1b[");
    expect(progress.at(-1)).toMatch(/^ \d+\.\ds\t 7\/7 tests complete \(2 failed\) \(1 retries\)$/);
    expect(submitted.stdout).toContain(`Job ${jobId}: 5 of 7 tasks passed (1 flaky); 2 failed\n`);
    expect(submitted.stdout).toMatch(/^FAILED failing_test \(task \S+, 1 attempt\)$/m);
    expect(submitted.stdout).toMatch(/^FAILED timeout_test \(task \S+, 1 attempt\)$/m);
    expect(submitted.stdout).toMatch(/^FLAKY flaky_test \(task \S+, 2 attempts\)$/m);
    expect(submitted.stdout).toMatch(/^ {2}attempt 0: FAILED, exit 3, on s[12]$/m);
    expect(submitted.stdout).not.toMatch(/^(FAILED|FLAKY) (passing_test|sharded_test)/m);

    const status = await c.dt(["status", "--json"]);
    expect(status.exitCode, status.stderr).toBe(0);
    expect(status.stderr).toContain(`Using most recently submitted job id: ${jobId}`);
    const summary = JSON.parse(status.stdout) as JobSummary;
    expect(summary).toMatchObject({ job_id: jobId, user: "e2e", status: "finished", canceled_at: null });
    expect(summary.counts).toEqual({ total_tasks: 7, queued: 0, running: 0, succeeded: 4, failed: 2, flaky: 1, quarantined: 0, canceled: 0, finished: 7, retries: 1, requeues: 0, reused: 0, coalesced: 0, waiting: 0, saved_ms: 0, cases: { total: 0, passed: 0, failed: 0, flaky: 0, skipped: 0 } });

    const views = await c.api.tasks(jobId);
    checkAttempts(views);
    // The timed-out command's process group was killed, not left behind.
    const slowTask = taskNamed(views, "timeout_test");
    const slowPid = await recordedPid(c.pidDir, slowTask.task_id, 0);
    await waitUntil(() => !processAlive(slowPid), `the timed-out task's sleep (pid ${slowPid}) to be gone`);
    for (const i of [0, 1, 2]) {
      const shard = taskNamed(views, `sharded_test.${i}`);
      expect(await (await fetch(shard.attempts[0]!.stdout_link!)).text()).toBe(`shard ${i}/3\n`);
    }

    const fetched = await c.dt(["fetch", "-l", "-a", "-d", "results"]);
    expect(fetched.exitCode, fetched.stderr).toBe(0);
    const results = join(c.dir, "results");
    const prefix = (description: string, attempt: number) => {
      const task = taskNamed(views, description);
      return join(results, `${safe(task.task_id)}.${attempt}.${safe(description)}`);
    };
    expect(readFileSync(`${prefix("failing_test", 0)}.stderr`, "utf8")).toBe("about to fail\n");
    expect(readFileSync(`${prefix("flaky_test", 0)}.stdout`, "utf8")).toBe("attempt 0\n");
    expect(readFileSync(`${prefix("flaky_test", 1)}.stdout`, "utf8")).toBe("attempt 1\n");
    expect(readFileSync(`${prefix("sharded_test.2", 0)}.stdout`, "utf8")).toBe("shard 2/3\n");
    // The archive is kept beside the directory it was extracted into, paths relative to the task root.
    expect(existsSync(`${prefix("passing_test", 0)}.zip`)).toBe(true);
    expect(readFileSync(join(prefix("passing_test", 0), "test-logs", "sub", "pass.log"), "utf8")).toBe("kept by the passing test\n");
  }, E2E_TEST_TIMEOUT_MS);
});

/** States, exit codes, slaves and phase times of every attempt, as GET /api/v1/jobs/:id/tasks reports them. */
function checkAttempts(views: TaskView[]): void {
  expect(views.map((t) => t.description).sort()).toEqual(["failing_test", "flaky_test", "passing_test", "sharded_test.0", "sharded_test.1", "sharded_test.2", "timeout_test"]);
  const outcome = (description: string) => taskNamed(views, description).attempts.map((a) => [a.state, a.exit_code]);
  expect(outcome("passing_test")).toEqual([["SUCCEEDED", 0]]);
  expect(outcome("failing_test")).toEqual([["FAILED", 3]]);
  expect(outcome("flaky_test")).toEqual([["FAILED", 1], ["SUCCEEDED", 0]]);
  for (const i of [0, 1, 2]) expect(outcome(`sharded_test.${i}`)).toEqual([["SUCCEEDED", 0]]);
  const timedOut = taskNamed(views, "timeout_test").attempts;
  expect(timedOut.map((a) => a.state)).toEqual(["TIMED_OUT"]);
  // SIGTERM'd by the slave: the shell's 128 + 15.
  expect(timedOut[0]!.exit_code).toBe(143);
  expect(timedOut[0]!.message).toContain("timed out after 2 s");
  expect(Object.fromEntries(views.map((t) => [t.description, t.group]))).toMatchObject({
    passing_test: "succeeded", failing_test: "failed", flaky_test: "flaky", timeout_test: "failed", "sharded_test.0": "succeeded",
  });
  expect(taskNamed(views, "passing_test").attempts[0]!.artifact_archive_link).toBeTruthy();

  const attempts = views.flatMap((t) => t.attempts);
  expect(new Set(attempts.map((a) => a.slave))).toEqual(new Set(["s1", "s2"]));
  for (const a of attempts) {
    const times = phaseTimes(a);
    expect(times.every((t) => typeof t === "number" && t > 0), `every phase time of ${JSON.stringify(a)}`).toBe(true);
    const sorted = [...(times as number[])].sort((x, y) => x - y);
    expect(times, `phase times in order: ${JSON.stringify(a)}`).toEqual(sorted);
  }
  // The command ran at least its 2 s timeout before it was stopped.
  expect(timedOut[0]!.command_end_at! - timedOut[0]!.command_start_at!).toBeGreaterThanOrEqual(2_000);
}
