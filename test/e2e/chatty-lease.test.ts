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
import { shellScript } from "../helpers/tree.ts";
import { describeTasks, E2E_TEST_TIMEOUT_MS, taskNamed, useCluster } from "./cluster.ts";

const setup = useCluster("dt-e2e-chatty-");

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
