/**
 * One set of scenarios for every queue a master can use — the in-process
 * queue (slaves long-poll the master) and beanstalkd (slaves reserve
 * directly) — on real master and slave processes: the same jobs must end the
 * same way. Registered by queue-memory.test.ts and queue-beanstalk.test.ts.
 */
import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { shellScript } from "../helpers/tree.ts";
import { processAlive } from "../helpers/wait.ts";
import { E2E_TEST_TIMEOUT_MS, type Cluster, taskNamed, useCluster } from "./cluster.ts";
import { RECORD_PID, recordedPid } from "./processes.ts";

export interface QueueUnderTest {
  /** Extra `dt master` arguments selecting the queue; made once per test. */
  masterArgs: () => string[];
}

/** Appends "<name> <attempt>" to $PID_DIR/order when the command starts, and the attempt to <task>.done when it passes: a failing body must `exit`. */
const script = (body: string) =>
  shellScript(`echo "$1 $DT_ATTEMPT" >> "$PID_DIR/order"\n${RECORD_PID}\n${body}\necho "$DT_ATTEMPT" >> "$PID_DIR/$DT_TASK_ID.done"`);

function lines(path: string): string[] {
  try {
    return readFileSync(path, "utf8").trim().split("\n").filter(Boolean);
  } catch {
    return [];
  }
}

export function queueConformance(name: string, queue: QueueUnderTest): void {
  const setup = useCluster("dt-e2e-queue-", { masterArgs: queue.masterArgs });
  const archiveNamed = (c: Cluster, body: string, name: string) => c.archive({ "t.sh": script(body) }, ["./t.sh", name]);

  describe(`queue conformance: ${name}`, () => {
    test("every task runs to completion once, failures are retried as asked, and the counts add up", async () => {
      const c = await setup();
      await c.startMaster();
      await Promise.all([c.startSlave("s1"), c.startSlave("s2")]);
      const pass = await archiveNamed(c, "true", "pass");
      const fail = await archiveNamed(c, "exit 3", "fail");
      const jobId = await c.submitNoWait([
        ...Array.from({ length: 8 }, (_, i) => ({ isolate_hash: pass, description: `pass_${i}` })),
        { isolate_hash: fail, description: "fail", max_retries: 1 },
      ]);
      const summary = await c.api.waitFinished(jobId);
      expect(summary.counts).toMatchObject({ total_tasks: 9, succeeded: 8, failed: 1, finished: 9, retries: 1 });
      const tasks = await c.api.tasks(jobId);
      for (const t of tasks) expect(lines(join(c.pidDir, `${t.task_id}.done`))).toEqual(t.description === "fail" ? [] : ["0"]);
      expect(lines(join(c.pidDir, "order")).filter((l) => l.startsWith("fail "))).toEqual(["fail 0", "fail 1"]);
      expect(taskNamed(tasks, "fail").attempts.map((a) => [a.state, a.exit_code])).toEqual([["FAILED", 3], ["FAILED", 3]]);
    }, E2E_TEST_TIMEOUT_MS);

    test("order: a retry before the first attempts waiting behind it, then higher priority first", async () => {
      const c = await setup();
      await c.startMaster();
      const flaky = await archiveNamed(c, '[ "$DT_ATTEMPT" != 0 ] || exit 1', "flaky");
      const tasks = await Promise.all(["p5", "p3", "p1"].map((n) => archiveNamed(c, "true", n)));
      // Queued before any slave is there, so the order is the queue's alone.
      const jobId = await c.submitNoWait([
        { isolate_hash: tasks[2]!, description: "p1", priority: 1 },
        { isolate_hash: flaky, description: "flaky", priority: 10, max_retries: 1 },
        { isolate_hash: tasks[0]!, description: "p5", priority: 5 },
        { isolate_hash: tasks[1]!, description: "p3", priority: 3 },
      ]);
      await c.startSlave("only", 1);
      await c.api.waitFinished(jobId);
      expect(lines(join(c.pidDir, "order"))).toEqual(["flaky 0", "flaky 1", "p5 0", "p3 0", "p1 0"]);
    }, E2E_TEST_TIMEOUT_MS);

    test("tasks run only on slaves that have their dimensions", async () => {
      const c = await setup();
      await c.startMaster();
      await Promise.all([c.startSlave("a", 2, ["--dimensions", "pool=a"]), c.startSlave("b", 2, ["--dimensions", "pool=b"])]);
      const t = await archiveNamed(c, "true", "t");
      const jobId = await c.submitNoWait([
        ...[1, 2, 3].map((i) => ({ isolate_hash: t, description: `on_a_${i}`, dimensions: { pool: "a" } })),
        ...[1, 2, 3].map((i) => ({ isolate_hash: t, description: `on_b_${i}`, dimensions: { pool: "b" } })),
        { isolate_hash: t, description: "anywhere" },
      ]);
      await c.api.waitFinished(jobId);
      for (const task of await c.api.tasks(jobId)) {
        expect(task.group).toBe("succeeded");
        if (task.description !== "anywhere") expect(task.attempts[0]!.slave).toBe(task.description.slice(3, 4));
      }
    }, E2E_TEST_TIMEOUT_MS);

    test("a SIGKILLed slave's task runs again on another slave, spending no retry", async () => {
      const c = await setup();
      await c.startMaster();
      await Promise.all([c.startSlave("s1", 1), c.startSlave("s2", 1)]);
      const sleeper = await archiveNamed(c, 'if [ "$DT_ATTEMPT" = 0 ]; then exec sleep 30; fi', "sleeper");
      const jobId = await c.submitNoWait([{ isolate_hash: sleeper, description: "sleeper", max_retries: 0 }]);
      const running = await c.api.waitTasks(jobId, "the sleeper to run", (tasks) => tasks[0]!.attempts[0]?.state === "RUNNING");
      const victim = c.slaves.find((s) => s.name === running[0]!.attempts[0]!.slave)!;
      victim.killGroup("SIGKILL");
      await victim.proc.exited;
      await c.api.waitFinished(jobId);
      const [task] = await c.api.tasks(jobId);
      expect(task!.attempts.map((a) => [a.attempt, a.retry, a.state])).toEqual([[0, 0, "SLAVE_LOST"], [1, 0, "SUCCEEDED"]]);
      expect(task!.attempts[1]!.slave).not.toBe(victim.name);
      expect(lines(join(c.pidDir, `${task!.task_id}.done`))).toEqual(["1"]);
    }, E2E_TEST_TIMEOUT_MS);

    test("cancel: waiting tasks end CANCELED, the running one is killed", async () => {
      const c = await setup();
      await c.startMaster();
      await c.startSlave("s1", 1);
      const sleeper = await archiveNamed(c, "exec sleep 30", "sleeper");
      const jobId = await c.submitNoWait([1, 2, 3, 4].map((i) => ({ isolate_hash: sleeper, description: `sleeper_${i}` })));
      const running = await c.api.waitTasks(jobId, "one sleeper to run", (tasks) => tasks.some((t) => t.attempts[0]?.state === "RUNNING"));
      const victim = running.find((t) => t.attempts[0]?.state === "RUNNING")!;
      const pid = await recordedPid(c.pidDir, victim.task_id, 0);
      expect((await c.dt(["cancel", jobId])).exitCode).toBe(0);
      const summary = await c.api.waitFinished(jobId);
      expect(summary.counts).toMatchObject({ canceled: 4, finished: 4 });
      // The running one's attempt ends once its slave has killed it and reported.
      await c.api.waitTasks(jobId, "every attempt to end CANCELED", (tasks) => tasks.every((t) => t.attempts.length === 1 && t.attempts[0]!.state === "CANCELED"));
      expect(processAlive(pid)).toBe(false);
      expect(lines(join(c.pidDir, "order"))).toHaveLength(1);
    }, E2E_TEST_TIMEOUT_MS);

    // With beanstalkd too, a slave starts nothing the master has not granted: what it reserves meanwhile waits for the master.
    test("the master SIGKILLed and restarted mid-job: nothing lost, nothing run twice, nothing new started while it is down", async () => {
      const c = await setup();
      const master = await c.startMaster();
      await c.startSlave("s1", 2);
      const t = await archiveNamed(c, "sleep 2", "t");
      const jobId = await c.submitNoWait(Array.from({ length: 8 }, (_, i) => ({ isolate_hash: t, description: `t_${i}` })));
      await c.api.waitTasks(jobId, "a task to run", (tasks) => tasks.some((x) => x.attempts[0]?.state === "RUNNING"));
      master.killGroup("SIGKILL");
      await master.proc.exited;
      const startedBefore = lines(join(c.pidDir, "order")).length;
      await Bun.sleep(3_500);
      const startedWhileDown = lines(join(c.pidDir, "order")).length - startedBefore;
      expect(startedWhileDown).toBe(0);
      await c.startMaster({ port: master.port });
      const summary = await c.api.waitFinished(jobId);
      expect(summary.counts).toMatchObject({ succeeded: 8, finished: 8, retries: 0 });
      for (const task of await c.api.tasks(jobId)) expect(lines(join(c.pidDir, `${task.task_id}.done`))).toEqual(["0"]);
    }, E2E_TEST_TIMEOUT_MS);
  });
}
