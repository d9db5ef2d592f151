/**
 * Slave health on real processes: an operator drains, quarantines and
 * resumes a slave with `dt slaves`; a slave quarantines itself after
 * infrastructure failures in a row and when its disk is short. Held slaves
 * finish what they run and start nothing new.
 */
import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { join } from "node:path";
import type { SlaveView, TaskView } from "../../src/master/protocol.ts";
import { type TestCas, startCas } from "../helpers/cas.ts";
import { TempDirs } from "../helpers/temp.ts";
import { shellScript } from "../helpers/tree.ts";
import { E2E_TEST_TIMEOUT_MS, pollUntil, useCluster } from "./cluster.ts";

const setup = useCluster("dt-e2e-health-");
/** A separate CAS the test can make fail, for infrastructure failures a slave meets at fetch. */
const temps = new TempDirs();
let cas: TestCas;
const setupWithCas = useCluster("dt-e2e-health-cas-", { masterArgs: () => ["--isolate-server", cas.url], casUrl: () => cas.url });
beforeEach(async () => {
  cas = await startCas(join(await temps.make("dt-e2e-health-cas-"), "cas"));
});
afterEach(async () => {
  await cas.stop();
  await temps.cleanup();
});

async function slaveView(c: Awaited<ReturnType<typeof setup>>, name: string): Promise<SlaveView> {
  return c.api.get<SlaveView>(`/api/v1/slaves/${name}`);
}

const states = (tasks: readonly TaskView[]) => tasks.flatMap((t) => t.attempts.map((a) => a.state));

describe("dt slaves drain, quarantine, resume", () => {
  test("a drained slave finishes its running task and starts no more; resumed, it runs the rest", async () => {
    const c = await setup();
    await c.startMaster();
    await c.startSlave("s1", 1);
    const hash = await c.archive({ "t.sh": shellScript("sleep 1.5") }, ["./t.sh"]);
    const jobId = await c.submitNoWait([{ isolate_hash: hash, description: "first" }, { isolate_hash: hash, description: "second" }]);
    await c.api.waitTasks(jobId, "one task to run", (tasks) => states(tasks).includes("RUNNING"));

    const drained = await c.dt(["slaves", "drain", "s1", "--idle", "--reason", "kernel update", "--wait", "20s"]);
    expect(drained.exitCode, drained.stderr).toBe(0);
    expect(drained.stdout).toMatch(/^s1\s+draining\s+1\s+0\s.*drain by operator: kernel update$/m);
    const view = await slaveView(c, "s1");
    expect(view).toMatchObject({ state: "draining", pending_command: null, running: [], hold: { kind: "drain", by: "operator", reason: "kernel update" } });
    const tasks = await c.api.tasks(jobId);
    // The running one finished; the other was never leased.
    expect(tasks.map((t) => t.attempts.map((a) => a.state))).toEqual([["SUCCEEDED"], ["QUEUED"]]);
    // Still up: it beats while held, so it stays live.
    expect(c.slaves[0]!.running).toBe(true);

    const list = await c.dt(["slaves", "--json"]);
    expect(list.exitCode, list.stderr).toBe(0);
    expect((JSON.parse(list.stdout) as SlaveView[]).map((s) => [s.name, s.state])).toEqual([["s1", "draining"]]);

    const resumed = await c.dt(["slaves", "resume", "s1"]);
    expect(resumed.exitCode, resumed.stderr).toBe(0);
    const summary = await c.api.waitFinished(jobId);
    expect(summary.counts).toMatchObject({ succeeded: 2, failed: 0 });
    expect(states(await c.api.tasks(jobId))).toEqual(["SUCCEEDED", "SUCCEEDED"]);
    expect((await slaveView(c, "s1")).hold).toBeNull();
  }, E2E_TEST_TIMEOUT_MS);

  test("an operator's quarantine and an unknown slave through the CLI", async () => {
    const c = await setup();
    await c.startMaster();
    await c.startSlave("s1", 1);
    const q = await c.dt(["slaves", "quarantine", "s1", "--reason", "flaky NIC"]);
    expect(q.exitCode, q.stderr).toBe(0);
    expect(await slaveView(c, "s1")).toMatchObject({ state: "quarantined", hold: { kind: "quarantine", by: "operator", reason: "flaky NIC" } });
    const hash = await c.archive({ "t.sh": shellScript("true") }, ["./t.sh"]);
    const jobId = await c.submitNoWait([{ isolate_hash: hash, description: "waits" }]);
    // Nothing reaches a quarantined slave: the task stays queued across several of its heartbeats.
    const idleBeats = (await slaveView(c, "s1")).last_seen_at;
    await pollUntil(async () => (await slaveView(c, "s1")).last_seen_at > idleBeats, "the held slave's next heartbeat", 15_000);
    expect(states(await c.api.tasks(jobId))).toEqual(["QUEUED"]);
    expect((await c.dt(["slaves", "resume", "s1"])).exitCode).toBe(0);
    expect((await c.api.waitFinished(jobId)).counts.succeeded).toBe(1);

    const unknown = await c.dt(["slaves", "drain", "nobody"]);
    expect(unknown.exitCode).toBe(3);
    expect(unknown.stderr).toContain('no slave "nobody" has called this master');
  }, E2E_TEST_TIMEOUT_MS);
});

describe("a slave quarantines itself", () => {
  test("after N infrastructure failures in a row (a CAS that answers 503): no more leases, the reason on the master, until resumed", async () => {
    const c = await setupWithCas();
    await c.startMaster();
    await c.startSlave("s1", 1, ["--max-infra-failures", "2", "--quarantine-cooldown", "0"]);
    const hash = await c.archive({ "t.sh": shellScript("true") }, ["./t.sh"]);
    // Every fetch fails: an infrastructure failure each time (a manifest that is not there would be the task's failure).
    cas.failWith(503);
    const jobId = await c.submitNoWait([{ isolate_hash: hash, description: "unfetchable" }]);
    let view: SlaveView | undefined;
    await pollUntil(async () => (view = await slaveView(c, "s1")).state === "quarantined", "s1 to quarantine itself", 40_000);
    expect(view!.hold).toMatchObject({ kind: "quarantine", by: "self" });
    expect(view!.hold!.reason).toStartWith("2 infrastructure failures in a row; the last: ");
    expect(view!.hold!.reason).toContain(hash);
    expect(view!.infra_failures.length).toBe(2);
    expect(view!.infra_failures[0]).toMatchObject({ job_id: jobId, state: "INFRA_FAILED" });
    // The requeued third attempt waits: no slave takes work.
    const tasks = await c.api.tasks(jobId);
    expect(states(tasks)).toEqual(["INFRA_FAILED", "INFRA_FAILED", "QUEUED"]);
    const listed = await c.dt(["slaves"]);
    expect(listed.stdout).toMatch(/^s1\s+quarantined\s.*quarantine by self: 2 infrastructure failures in a row/m);

    // Resumed, with the CAS back, it takes work again: the waiting attempt passes and resets the count.
    cas.failWith(null);
    expect((await c.dt(["slaves", "resume", "s1"])).exitCode).toBe(0);
    expect((await c.api.waitFinished(jobId)).counts.succeeded).toBe(1);
    expect((await slaveView(c, "s1")).state).toBe("idle");
  }, E2E_TEST_TIMEOUT_MS);

  test("when its disk has less free space than --min-free-disk: it says so and takes nothing", async () => {
    const c = await setup();
    await c.startMaster();
    await c.startSlave("s1", 1, ["--min-free-disk", "1000000TiB"]);
    const view = await slaveView(c, "s1");
    expect(view.state).toBe("quarantined");
    expect(view.hold!.reason).toMatch(/^disk: \S+cache has [\d.]+ \w+ free, under the 1000000\.0 TiB a task needs; \S+runs has/);
    const hash = await c.archive({ "t.sh": shellScript("true") }, ["./t.sh"]);
    const jobId = await c.submitNoWait([{ isolate_hash: hash, description: "waits" }]);
    const seen = view.last_seen_at;
    await pollUntil(async () => (await slaveView(c, "s1")).last_seen_at > seen, "the held slave's next heartbeat", 15_000);
    expect(states(await c.api.tasks(jobId))).toEqual(["QUEUED"]);
  }, E2E_TEST_TIMEOUT_MS);
});
