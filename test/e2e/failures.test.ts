/**
 * Infrastructure failures on real processes: a slave SIGKILLed mid-task and
 * a master SIGKILLed and restarted mid-job. Neither may lose a task, spend a
 * retry, or run a task to completion twice.
 */
import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { SlaveView, TaskView } from "../../src/master/protocol.ts";
import { shellScript } from "../helpers/tree.ts";
import { processAlive } from "../helpers/wait.ts";
import { E2E_TEST_TIMEOUT_MS, describeTasks, taskNamed, useCluster } from "./cluster.ts";
import { RECORD_PID, recordedPid } from "./processes.ts";

const setup = useCluster();

/** Appends the attempt to $PID_DIR/<task>.done once the command has run to its end: a task run twice to completion has two lines. */
const RECORD_COMPLETION = 'echo "$DT_ATTEMPT" >> "$PID_DIR/$DT_TASK_ID.done"';

function completions(pidDir: string, taskId: string): string[] {
  try {
    return readFileSync(join(pidDir, `${taskId}.done`), "utf8").trim().split("\n");
  } catch {
    return [];
  }
}

describe("a slave SIGKILLed mid-task", () => {
  test("its attempt ends SLAVE_LOST after the lease TTL and the task succeeds on the other slave without spending a retry", async () => {
    const c = await setup();
    await c.startMaster();
    await Promise.all([c.startSlave("s1"), c.startSlave("s2")]);
    // The first attempt sleeps long past the test's patience; a requeued one passes at once.
    const sleeper = await c.archive({ "sleeper.sh": shellScript(`${RECORD_PID}\nif [ "$DT_ATTEMPT" = 0 ]; then exec sleep 20; fi\n${RECORD_COMPLETION}\necho "done on attempt $DT_ATTEMPT"`) }, ["./sleeper.sh"]);
    const quick = await c.archive({ "quick.sh": shellScript(`${RECORD_COMPLETION}\necho quick`) }, ["./quick.sh"]);
    const jobId = await c.submitNoWait([
      { isolate_hash: sleeper, description: "sleeper", max_retries: 0 },
      ...[1, 2, 3].map((i) => ({ isolate_hash: quick, description: `quick_${i}`, max_retries: 0 })),
    ]);

    // Kill only once the quick tasks are done: one still in flight on the victim would (rightly) run again, and blur what is checked.
    const running = await c.api.waitTasks(
      jobId,
      "the sleeper to run and the quick tasks to pass",
      (tasks) => taskNamed(tasks, "sleeper").attempts[0]?.state === "RUNNING" && tasks.every((t) => t.description === "sleeper" || t.group === "succeeded"),
    );
    const first = taskNamed(running, "sleeper");
    const victimName = first.attempts[0]!.slave!;
    const survivorName = victimName === "s1" ? "s2" : "s1";
    const orphan = await recordedPid(c.pidDir, first.task_id, 0);
    const victim = c.slaves.find((s) => s.name === victimName)!;
    const killedAt = Date.now();
    victim.killGroup("SIGKILL");
    await victim.proc.exited;

    const lost = await c.api.waitTasks(jobId, "the sleeper's attempt to be given up", (tasks) => taskNamed(tasks, "sleeper").attempts[0]!.state === "SLAVE_LOST");
    // Not before the lease ran out: its last heartbeat was at most one interval (1 s) before the kill, the TTL is 3 s.
    expect(Date.now() - killedAt).toBeGreaterThanOrEqual(1_900);
    expect(taskNamed(lost, "sleeper").attempts[0]).toMatchObject({ attempt: 0, retry: 0, state: "SLAVE_LOST", slave: victimName });

    const summary = await c.api.waitFinished(jobId);
    // The lost attempt was requeued, not retried: counted apart.
    expect(summary.counts).toMatchObject({ total_tasks: 4, queued: 0, running: 0, succeeded: 4, failed: 0, flaky: 0, canceled: 0, finished: 4, retries: 0, requeues: 1 });
    const tasks = await c.api.tasks(jobId);
    const sleeperTask = taskNamed(tasks, "sleeper");
    expect(sleeperTask.group).toBe("succeeded");
    expect(sleeperTask.attempts.map((a) => [a.attempt, a.retry, a.state, a.slave])).toEqual([
      [0, 0, "SLAVE_LOST", victimName],
      [1, 0, "SUCCEEDED", survivorName],
    ]);
    expect(await (await fetch(sleeperTask.attempts[1]!.stdout_link!)).text()).toBe("done on attempt 1\n");
    for (const task of tasks) {
      expect(task.attempts.filter((a) => a.state === "SUCCEEDED"), task.description).toHaveLength(1);
      expect(completions(c.pidDir, task.task_id), task.description).toHaveLength(1);
    }
    const { slaves } = await c.api.get<{ slaves: SlaveView[] }>("/api/v1/slaves");
    // The victim holds nothing any more, and reads lost since its lease lapsed.
    expect(slaves.find((s) => s.name === victimName)).toMatchObject({ running: [], state: "lost" });
    // SIGKILL leaves the slave no chance to stop its task: the command runs on in its own process group, orphaned (afterEach kills it).
    expect(processAlive(orphan)).toBe(true);
  }, E2E_TEST_TIMEOUT_MS);
});

describe("the master SIGKILLed and restarted mid-job", () => {
  test("running attempts report to the restarted master, queued ones run, no task completes twice", async () => {
    const c = await setup();
    const master = await c.startMaster();
    await Promise.all([c.startSlave("s1"), c.startSlave("s2")]);
    const hash = await c.archive({ "three.sh": shellScript(`${RECORD_PID}\nsleep 3\n${RECORD_COMPLETION}\necho "slept on attempt $DT_ATTEMPT"`) }, ["./three.sh"]);
    // Eight tasks on four slots: four run while the master dies, four wait in its queue.
    const jobId = await c.submitNoWait(Array.from({ length: 8 }, (_, i) => ({ isolate_hash: hash, description: `sleep_3s_${i}` })));

    const isRunning = (t: TaskView) => t.attempts.some((a) => a.state === "RUNNING");
    const before = await c.api.waitTasks(jobId, "four tasks to run", (tasks) => tasks.filter(isRunning).length === 4);
    const killedAt = Date.now();
    master.killGroup("SIGKILL");
    await master.proc.exited;
    const runningAtKill = before.filter(isRunning).map((t) => ({ taskId: t.task_id, slave: t.attempts[0]!.slave }));
    expect(runningAtKill).toHaveLength(4);

    const restarted = await c.startMaster({ port: master.port });
    expect(restarted.url).toBe(master.url);
    // Nothing changed while it was down: the four running stay leased to their slaves, the four waiting stay queued.
    expect(restarted.output).toContain("rebuilt from the database: 4 queued, 4 leased");

    const summary = await c.api.waitFinished(jobId);
    expect(summary.counts).toMatchObject({ total_tasks: 8, succeeded: 8, failed: 0, flaky: 0, canceled: 0, finished: 8, retries: 0 });
    const tasks = await c.api.tasks(jobId);
    for (const task of tasks) {
      // One attempt each: the restart cost no lease, so nothing was requeued and nothing ran twice.
      expect(task.attempts.map((a) => a.state), `${task.description}: ${describeTasks([task])}`).toEqual(["SUCCEEDED"]);
      expect(completions(c.pidDir, task.task_id), task.description).toEqual(["0"]);
    }
    // The attempts that ran across the restart kept their slave and were reported to the new master.
    for (const { taskId, slave } of runningAtKill) {
      const attempt = tasks.find((t) => t.task_id === taskId)!.attempts[0]!;
      expect(attempt).toMatchObject({ attempt: 0, state: "SUCCEEDED", exit_code: 0, slave });
      expect(attempt.reported_at!).toBeGreaterThan(killedAt);
      expect(await (await fetch(attempt.stdout_link!)).text()).toBe("slept on attempt 0\n");
    }
    // The ones that waited in the queue were leased by the restarted master.
    const queuedAtKill = tasks.filter((t) => !runningAtKill.some((r) => r.taskId === t.task_id));
    expect(queuedAtKill).toHaveLength(4);
    for (const task of queuedAtKill) expect(task.attempts[0]!.leased_at!).toBeGreaterThan(killedAt);
    expect(c.slaves.every((s) => s.running)).toBe(true);
  }, E2E_TEST_TIMEOUT_MS);
});
