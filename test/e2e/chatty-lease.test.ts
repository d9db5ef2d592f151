/**
 * A slave never loses a lease it is still running: a task that writes as
 * fast as it can for twice the lease TTL, and a silent one as long, while
 * the slave's third slot takes short tasks one after another and every
 * core is kept busy by a CPU hog, keep their one lease each and end
 * SUCCEEDED. (Before the fix, each new lease restarted the slave's
 * heartbeat tick, so a stream of short tasks starved the long ones'
 * heartbeats and they ended SLAVE_LOST. The master now also counts a
 * lease's log appends as signs of life, which would save the chatty task
 * alone; the silent one checks the heartbeat itself.)
 */
import { afterEach, describe, expect, test } from "bun:test";
import { availableParallelism } from "node:os";
import type { Subprocess } from "bun";
import { BeanstalkClient, parseBeanstalkUrl } from "../../src/master/queue/beanstalk-client.ts";
import { shellScript } from "../helpers/tree.ts";
import { describeTasks, E2E_TEST_TIMEOUT_MS, taskNamed, useCluster } from "./cluster.ts";

const setup = useCluster("dt-e2e-chatty-");
const BEANSTALKD = process.env.DT_TEST_BEANSTALKD;
const tubePrefix = `chatty${crypto.randomUUID().slice(0, 8)}`;
const setupBeanstalk = useCluster("dt-e2e-chatty-bs-", { masterArgs: () => ["--queue", `beanstalk://${BEANSTALKD}`, "--queue-tube-prefix", tubePrefix] });

/** The cluster's lease TTL is 3 s: the chatty task runs for twice that. */
const CHATTY_SECONDS = 6;
/** Short tasks to keep the second slot leasing anew every few hundred ms for longer than the chatty task runs. */
const SHORT_TASKS = 30;

/** A shell loop of echo (as the task that lost its lease): as fast as one core lets it, until a background sleep ends. */
const SUITE = {
  "chatty.sh": shellScript(`sleep ${CHATTY_SECONDS} & timer=$!\nwhile kill -0 $timer 2>/dev/null; do echo "${"chatty output ".repeat(14)}"; done`),
  "quiet.sh": shellScript(`sleep ${CHATTY_SECONDS}`),
  "short.sh": shellScript("sleep 0.2"),
};

const hogs: Subprocess[] = [];
afterEach(() => {
  for (const hog of hogs.splice(0)) hog.kill("SIGKILL");
});

/** One spinning shell per core (at least two): the slave, its tasks and the master all compete for CPU. */
function startCpuHog(): void {
  for (let i = 0; i < Math.max(2, availableParallelism()); i++) {
    hogs.push(Bun.spawn(["sh", "-c", "while :; do :; done"], { stdin: "ignore", stdout: "ignore", stderr: "ignore" }));
  }
}

describe("a chatty task on a loaded machine", () => {
  test("writing as fast as it can for 2x the lease TTL beside a silent task and a stream of short tasks, each keeps its lease and succeeds", async () => {
    const c = await setup();
    await c.startMaster();
    await c.startSlave("s1", 3);
    const chatty = await c.archive(SUITE, ["./chatty.sh"]);
    const quiet = await c.archive(SUITE, ["./quiet.sh"]);
    const short = await c.archive(SUITE, ["./short.sh"]);
    startCpuHog();
    const jobId = await c.submitNoWait([
      { isolate_hash: chatty, description: "chatty", max_retries: 0 },
      { isolate_hash: quiet, description: "quiet", max_retries: 0 },
      ...Array.from({ length: SHORT_TASKS }, (_, i) => ({ isolate_hash: short, description: `short${i}`, max_retries: 0 })),
    ]);
    await c.api.waitFinished(jobId, 45_000);
    const tasks = await c.api.tasks(jobId);
    const attempts = taskNamed(tasks, "chatty").attempts;
    expect(attempts.map((a) => a.state), describeTasks(tasks)).toEqual(["SUCCEEDED"]);
    expect(taskNamed(tasks, "quiet").attempts.map((a) => a.state), describeTasks(tasks)).toEqual(["SUCCEEDED"]);
    expect(tasks.flatMap((t) => t.attempts).filter((a) => a.state !== "SUCCEEDED"), describeTasks(tasks)).toEqual([]);
    // It ran its whole time, and it was chatty: megabytes of output, not a trickle.
    expect(attempts[0]!.command_end_at! - attempts[0]!.command_start_at!).toBeGreaterThanOrEqual(CHATTY_SECONDS * 1000);
    const stdout = await fetch(attempts[0]!.stdout_master_link!);
    expect(Number(stdout.headers.get("content-length"))).toBeGreaterThan(1 << 20);
    await stdout.body?.cancel();
    expect(c.slaves[0]!.output).not.toMatch(/not held by any slave|no longer knows the lease/);
  }, E2E_TEST_TIMEOUT_MS);
});

/**
 * On beanstalkd the slave holds a second lease: the job's reservation, whose
 * time-to-run (the lease TTL, 3 s here) only `touch` renews. A chatty task
 * must keep it as well as the master's lease: a reservation that lapses
 * makes the job ready for any slave, which starts it again. Its beanstalkd
 * job is watched for the whole run: reserved once, never timed out.
 */
describe.skipIf(!BEANSTALKD)(`a chatty task on beanstalkd${BEANSTALKD ? "" : " [skipped: DT_TEST_BEANSTALKD is not set]"}`, () => {
  test("writing as fast as it can for 2x the TTR on a loaded machine, its reservation never times out and it runs once", async () => {
    const c = await setupBeanstalk();
    const bs = await BeanstalkClient.connect(parseBeanstalkUrl(BEANSTALKD!));
    try {
      await c.startMaster();
      // Two slaves: a reservation that lapsed would be taken by either.
      await c.startSlave("s1", 3);
      await c.startSlave("s2", 1);
      const chatty = await c.archive(SUITE, ["./chatty.sh"]);
      const short = await c.archive(SUITE, ["./short.sh"]);
      // beanstalkd numbers jobs in order: the chatty task's job lies between two probes of ours.
      const probe = async () => {
        await bs.use(`${tubePrefix}probe`);
        const id = await bs.put("probe", { priority: 0, delaySec: 0, ttrSec: 1 });
        await bs.delete(id);
        return id;
      };
      const before = await probe();
      startCpuHog();
      const jobId = await c.submitNoWait([
        { isolate_hash: chatty, description: "chatty", max_retries: 0 },
        ...Array.from({ length: SHORT_TASKS }, (_, i) => ({ isolate_hash: short, description: `short${i}`, max_retries: 0 })),
      ]);
      await c.api.waitTasks(jobId, "the chatty task to run", (tasks) => taskNamed(tasks, "chatty").attempts[0]?.state === "RUNNING", 30_000);
      const after = await probe();
      let chattyJob: number | undefined;
      for (let id = before + 1; id < after && chattyJob === undefined; id++) {
        const job = await bs.peek(id);
        if (job && new TextDecoder().decode(job.body).includes(`"description":"chatty"`)) chattyJob = id;
      }
      expect(chattyJob, `the chatty task's job among beanstalkd jobs ${before + 1}..${after - 1}`).toBeDefined();
      // Until the slave deletes it after the report: the most timeouts and reserves it ever had, and when it went.
      let timeouts = 0;
      let reserves = 0;
      for (let stats = await bs.statsJob(chattyJob!); stats; stats = await bs.statsJob(chattyJob!)) {
        timeouts = Math.max(timeouts, Number(stats.timeouts));
        reserves = Math.max(reserves, Number(stats.reserves));
        await Bun.sleep(100); // a sampling period, not a synchronisation: the loop ends on the job's deletion
      }
      const goneAt = Date.now();
      await c.api.waitFinished(jobId, 45_000);
      const tasks = await c.api.tasks(jobId);
      expect({ timeouts, reserves }).toEqual({ timeouts: 0, reserves: 1 });
      // A lapse can also come and go between two samples: a second taker is told the lease is not its own and deletes the job, before the command ended.
      expect(goneAt).toBeGreaterThanOrEqual(taskNamed(tasks, "chatty").attempts[0]!.command_end_at!);
      expect(taskNamed(tasks, "chatty").attempts.map((a) => a.state), describeTasks(tasks)).toEqual(["SUCCEEDED"]);
      expect(tasks.flatMap((t) => t.attempts).filter((a) => a.state !== "SUCCEEDED"), describeTasks(tasks)).toEqual([]);
      for (const slave of c.slaves) expect(slave.output).not.toMatch(/not held by any slave|no longer knows the lease/);
    } finally {
      bs.close();
    }
  }, E2E_TEST_TIMEOUT_MS);
});

