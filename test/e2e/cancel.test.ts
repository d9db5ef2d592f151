/**
 * `dt cancel` of a running job on real processes: the master reads it
 * finished at once, the slave kills what runs, nothing queued starts, and
 * a `dt watch` following the job exits 88.
 */
import { describe, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { join } from "node:path";
import type { TaskView } from "../../src/master/protocol.ts";
import { shellScript } from "../helpers/tree.ts";
import { processAlive, waitUntil } from "../helpers/wait.ts";
import { E2E_TEST_TIMEOUT_MS, useCluster } from "./cluster.ts";
import { RECORD_PID, recordedPid } from "./processes.ts";

const setup = useCluster();

describe("dt cancel of a running job", () => {
  test("kills the running tasks, never starts the queued ones, reads finished at once; dt watch exits 88", async () => {
    const c = await setup();
    await c.startMaster();
    await c.startSlave("s1", 2);
    const hash = await c.archive({ "long.sh": shellScript(`${RECORD_PID}\nexec sleep 30`) }, ["./long.sh"]);
    // Two slots, five tasks: two run, three wait.
    const jobId = await c.submitNoWait(Array.from({ length: 5 }, (_, i) => ({ isolate_hash: hash, description: `long_${i}` })));
    const isRunning = (t: TaskView) => t.attempts[0]?.state === "RUNNING";
    const before = await c.api.waitTasks(jobId, "two tasks to run", (tasks) => tasks.filter(isRunning).length === 2);
    const running = before.filter(isRunning);
    const queued = before.filter((t) => !isRunning(t));
    const pids = await Promise.all(running.map((t) => recordedPid(c.pidDir, t.task_id, 0)));

    const watch = c.spawn("dt watch", ["watch", jobId, "--poll-interval", "0.2"]);
    await watch.waitForOutput(/0\/5 tests complete \(2 running, 3 queued\)/, "its first progress line");

    const canceled = await c.dt(["cancel", jobId]);
    expect(canceled.exitCode, canceled.stderr).toBe(0);
    expect(canceled.stdout).toContain(`Job ${jobId} (e2e): finished (canceled)`);
    // At once: no wait for the slave to kill anything.
    const summary = await c.api.job(jobId);
    expect(summary.status).toBe("finished");
    expect(summary.canceled_at).not.toBeNull();
    expect(summary.counts).toMatchObject({ total_tasks: 5, canceled: 5, finished: 5, succeeded: 0, queued: 0, running: 0 });
    const distTest = await c.api.get<Record<string, unknown>>(`/job_status?job_id=${encodeURIComponent(jobId)}`);
    // dist_test's semantics: a canceled row is a failed one, and with no retries left its group is finished.
    expect(distTest).toMatchObject({ status: "finished", total_tasks: 5, finished_tasks: 5, succeeded_tasks: 0, total_groups: 5, finished_groups: 5, failed_groups: 5 });

    expect(await watch.waitExit(10_000)).toBe(88);
    expect(watch.output).toMatch(/^CANCELED long_\d \(task \S+, 1 attempt\)$/m);

    // The slave hears of the cancel on its next heartbeat (1 s) and kills the process groups.
    for (const pid of pids) await waitUntil(() => !processAlive(pid), `canceled task process ${pid} to be gone`, 10_000);
    const after = await c.api.waitTasks(jobId, "the killed attempts to be reported", (tasks) => tasks.every((t) => t.attempts.every((a) => a.reported_at !== null)));
    for (const task of after) {
      expect(task.group).toBe("canceled");
      expect(task.attempts.map((a) => a.state)).toEqual(["CANCELED"]);
    }
    for (const task of after.filter((t) => running.some((r) => r.task_id === t.task_id))) {
      expect(task.attempts[0]!.slave).toBe("s1");
      expect(task.attempts[0]!.command_start_at).not.toBeNull();
    }
    // The queued ones were never leased, and never ran a command.
    for (const task of after.filter((t) => queued.some((q) => q.task_id === t.task_id))) {
      expect(task.attempts[0]).toMatchObject({ slave: null, leased_at: null, command_start_at: null });
      expect(existsSync(join(c.pidDir, `${task.task_id}.0.pid`))).toBe(false);
    }
    const { slaves } = await c.api.get<{ slaves: { name: string; running: unknown[] }[] }>("/api/v1/slaves");
    expect(slaves.find((s) => s.name === "s1")?.running).toEqual([]);
  }, E2E_TEST_TIMEOUT_MS);
});
