/**
 * Scenarios 1–3: a process dies mid-job and comes back. A slave SIGKILLed
 * and restarted as the same host (as systemd would); the master SIGKILLed
 * and restarted on its port; beanstalkd, MariaDB and S3 each SIGKILLed and
 * restarted on their data (mysql backend only). Every task must end with
 * exactly one result, and no command may run to its end twice.
 */
import type { OutageName } from "./backends.ts";
import { MARK } from "./harness.ts";
import { type Scenario, TWO_SLAVES, submitUniformJob, waitSucceeded } from "./scenario.ts";

/** As systemd's RestartSec: the slave or master is back a moment after its death. */
const RESTART_AFTER_MS = 1_000;
/** How long a server stays down: a few heartbeats, under the lease TTL, so leases can survive it. */
const OUTAGE_MS = 3_000;

export const slaveKill: Scenario = {
  name: "slave-kill",
  summary: "slave SIGKILLed mid-task and restarted as the same host 1 s later; 8 × (`sleep 300 &` then `sleep 8`) on 2 × 2 slots",
  slaves: TWO_SLAVES,
  deadlineMs: () => 120_000,
  async run(ctx) {
    const c = ctx.cluster;
    // Long enough that the killed slave's orphaned commands are still running when it comes back; the
    // grandchild outlives any command whose process group nobody ends (a slave does when a command exits).
    const jobId = await submitUniformJob(ctx, "sleep8", `sleep 300 &\nsleep 8\n${MARK}`, 8);
    await c.waitTasks(jobId, "two tasks to run on slave-1", (tasks) => tasks.filter((t) => t.attempts.some((a) => a.state === "RUNNING" && a.slave === "slave-1")).length >= 2, ctx.remainingMs());
    ctx.record.faultAt = Date.now();
    await c.killSlave("slave-1");
    await Bun.sleep(RESTART_AFTER_MS);
    await c.restartSlave("slave-1");
  },
};

export const masterKill: Scenario = {
  name: "master-kill",
  summary: "master SIGKILLed once 20 % of 3,000 quick tasks passed (fewer with a smaller --tasks), restarted on its port 1 s later",
  slaves: TWO_SLAVES,
  deadlineMs: () => 180_000,
  async run(ctx) {
    // Quick tasks: many leases in flight and results on the wire at the moment of the kill. 3,000: a race
    // that hit 2 of 5 kills in a 10,000-task job has room to show, in a minute or less on MySQL.
    const count = Math.min(3_000, ctx.options.tasks);
    const jobId = await submitUniformJob(ctx, "quick", MARK, count);
    await waitSucceeded(ctx, jobId, Math.ceil(count / 5));
    ctx.record.faultAt = Date.now();
    await ctx.cluster.killMaster();
    await Bun.sleep(RESTART_AFTER_MS);
    await ctx.cluster.restartMaster();
  },
};

function outage(server: OutageName, what: string): Scenario {
  return {
    name: `${server}-restart`,
    summary: `${what} SIGKILLed once 8 of 40 × \`sleep 1\` passed, restarted on its data ${OUTAGE_MS / 1000} s later (mysql backend only)`,
    outage: server,
    slaves: TWO_SLAVES,
    deadlineMs: () => 150_000,
    async run(ctx) {
      // Output, so that logs go to the artifact store (S3) on every task.
      const jobId = await submitUniformJob(ctx, "nap", `sleep 1\necho "napped on attempt $DT_ATTEMPT"\n${MARK}`, 40);
      await waitSucceeded(ctx, jobId, 8);
      const handle = ctx.backend.outages.get(server)!;
      ctx.record.faultAt = Date.now();
      await handle.kill();
      await Bun.sleep(OUTAGE_MS);
      await handle.restart();
    },
  };
}

export const beanstalkdRestart = outage("beanstalkd", "beanstalkd");
export const mysqlRestart = outage("mysql", "MariaDB");
export const s3Restart = outage("s3", "S3 (s3rver)");
