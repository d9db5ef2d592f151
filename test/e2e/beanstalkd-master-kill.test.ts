/**
 * The master SIGKILLed, again and again, while slaves reserve from
 * beanstalkd and claim with it under load: every task's command must run
 * exactly once. Real processes: a private beanstalkd, a master on SQLite
 * fed into it, three slaves; each task appends its id to one shared file.
 *
 * What this catches: a slave that started a reserved job before the master
 * confirmed its claim, when a restarted master offered the same attempt
 * again under a new lease (its put had reached beanstalkd, its record of the
 * lease had not reached the database): two slaves ran it. And a result
 * stored whose answer the kill lost: the slave's next heartbeat reached the
 * restarted master before its report sent again, and heard its lease called
 * unknown, so it dropped the run ("no longer knows the lease").
 */
import { afterEach, describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { type PrivateBeanstalkd, beanstalkdMissing, startBeanstalkd } from "../helpers/beanstalkd.ts";
import { shellScript } from "../helpers/tree.ts";
import { pollUntil, useCluster } from "./cluster.ts";

const MISSING = beanstalkdMissing();
if (MISSING) console.warn(`SKIP test/e2e/beanstalkd-master-kill.test.ts: ${MISSING}`);

let server: PrivateBeanstalkd | null = null;
afterEach(async () => {
  await server?.destroy();
  server = null;
});

// A lease TTL far above a restart: a task must not be lost (and legitimately run again) because its slave could not beat during one.
const setup = useCluster("dt-e2e-bs-master-kill-", { masterArgs: () => ["--queue", server!.url, "--lease-ttl", "60s"] });

const TASKS = 600;
/** The master is killed when this many commands have run: early, mid-job and late. */
const KILL_AT = [60, 200, 380];

function runs(path: string): string[] {
  try {
    return readFileSync(path, "utf8").split("\n").filter(Boolean);
  } catch {
    return [];
  }
}

describe.skipIf(MISSING !== undefined)("the master SIGKILLed while slaves claim from beanstalkd", () => {
  test(`${TASKS} short tasks, the master killed ${KILL_AT.length} times: every command runs exactly once`, async () => {
    const bs = await startBeanstalkd();
    if (!bs) throw new Error(`beanstalkd is missing: ${beanstalkdMissing()}`);
    server = bs;
    const c = await setup();
    let master = await c.startMaster();
    await Promise.all([c.startSlave("s1", 4), c.startSlave("s2", 4), c.startSlave("s3", 4)]);
    const log = join(c.pidDir, "runs.log");
    // One short line per run, appended: O_APPEND keeps concurrent writers' lines whole.
    const t = await c.archive({ "t.sh": shellScript('echo "$DT_TASK_ID $DT_ATTEMPT" >> "$PID_DIR/runs.log"') }, ["./t.sh"]);
    const jobId = await c.submitNoWait(Array.from({ length: TASKS }, (_, i) => ({ isolate_hash: t, description: `t_${i}` })));

    for (const at of KILL_AT) {
      await pollUntil(() => runs(log).length >= at, () => `${at} commands to run (${runs(log).length} so far)`, 60_000);
      master.killGroup("SIGKILL");
      await master.exited;
      master = await c.startMaster({ port: master.port });
    }

    const summary = await c.api.waitFinished(jobId, 120_000);
    expect(summary.counts).toMatchObject({ total_tasks: TASKS, succeeded: TASKS, finished: TASKS });
    const byTask = new Map<string, number>();
    for (const line of runs(log)) {
      const taskId = line.split(" ")[0]!;
      byTask.set(taskId, (byTask.get(taskId) ?? 0) + 1);
    }
    const twice = [...byTask].filter(([, n]) => n > 1);
    const dropped = c.slaves.flatMap((s) => s.output.split("\n").filter((l) => l.includes("no longer knows the lease")));
    expect({ twice, dropped }).toEqual({ twice: [], dropped: [] });
    expect(byTask.size).toBe(TASKS);
    const tasks = await c.api.tasks(jobId);
    expect(tasks.length).toBe(TASKS);
    const notOnce = tasks.filter((t) => t.attempts.length !== 1 || t.attempts[0]!.state !== "SUCCEEDED").map((t) => `${t.description}: ${t.attempts.map((a) => `${a.state}@${a.slave ?? "-"}`).join(", ")}`);
    expect(notOnce).toEqual([]);
  }, 240_000);
});
