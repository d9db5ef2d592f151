/**
 * beanstalkd SIGKILLed and restarted on its binlog in the middle of a job,
 * on real processes: a private beanstalkd, a master fed into it, two slaves
 * reserving from it. No task may be lost or run to completion twice.
 */
import { afterEach, describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { type PrivateBeanstalkd, beanstalkdMissing, startBeanstalkd } from "../helpers/beanstalkd.ts";
import { TempDirs } from "../helpers/temp.ts";
import { shellScript } from "../helpers/tree.ts";
import { E2E_TEST_TIMEOUT_MS, useCluster } from "./cluster.ts";

const MISSING = beanstalkdMissing();
if (MISSING) console.warn(`SKIP test/e2e/beanstalkd-restart.test.ts: ${MISSING}`);

const temps = new TempDirs();
let server: PrivateBeanstalkd | null = null;
afterEach(async () => {
  await server?.destroy();
  server = null;
  await temps.cleanup();
});

const setup = useCluster("dt-e2e-bs-restart-", { masterArgs: () => ["--queue", server!.url] });

function lines(path: string): string[] {
  try {
    return readFileSync(path, "utf8").trim().split("\n").filter(Boolean);
  } catch {
    return [];
  }
}

describe.skipIf(MISSING !== undefined)("beanstalkd SIGKILLed and restarted on its binlog mid-job", () => {
  test("the job completes with every task run to completion exactly once", async () => {
    const bs = await startBeanstalkd({ binlogDir: await temps.make("dt-binlog-") });
    if (!bs) throw new Error(`beanstalkd is missing: ${beanstalkdMissing()}`);
    server = bs;
    const c = await setup();
    await c.startMaster();
    await Promise.all([c.startSlave("s1", 2), c.startSlave("s2", 2)]);
    const t = await c.archive({ "t.sh": shellScript('sleep 2\necho "$DT_ATTEMPT" >> "$PID_DIR/$DT_TASK_ID.done"') }, ["./t.sh"]);
    const jobId = await c.submitNoWait(Array.from({ length: 12 }, (_, i) => ({ isolate_hash: t, description: `t_${i}` })));
    await c.api.waitTasks(jobId, "a task to run", (tasks) => tasks.some((x) => x.attempts[0]?.state === "RUNNING"));

    await bs.stop();
    await Bun.sleep(1_500);
    await bs.restart();

    const summary = await c.api.waitFinished(jobId, 50_000);
    expect(summary.counts).toMatchObject({ total_tasks: 12, succeeded: 12, finished: 12 });
    const tasks = await c.api.tasks(jobId);
    for (const task of tasks) {
      // One passing attempt each; a task a lost reservation gave to a second slave was dropped there, not run twice.
      expect(task.attempts.filter((a) => a.state === "SUCCEEDED")).toHaveLength(1);
      expect(lines(join(c.pidDir, `${task.task_id}.done`))).toHaveLength(1);
    }
  }, E2E_TEST_TIMEOUT_MS);
});
