/**
 * The master's MySQL/MariaDB server restarted mid-job, on real processes: a
 * private MariaDB (own datadir and port, never the system server), a real
 * `dt master --db mysql://…` and `dt slave`. While the database is down the
 * master fails its database calls but must not die; once it is back, the
 * job finishes with one success per task.
 */
import { afterEach, describe, expect, test } from "bun:test";
import { join } from "node:path";
import type { TaskView } from "../../src/master/protocol.ts";
import { shellScript } from "../helpers/tree.ts";
import { type Cluster, E2E_TEST_TIMEOUT_MS, type MasterProcess, describeTasks, useCluster } from "./cluster.ts";
import { PrivateMariadb } from "./private-mariadb.ts";
import { RECORD_PID, START_DEADLINE_MS } from "./processes.ts";

const gate = process.env.DT_TEST_MYSQL_URL;
if (!gate) console.warn("SKIP e2e MySQL restart: DT_TEST_MYSQL_URL is not set (e.g. mysql://root@127.0.0.1:3306/dt_test); the test starts its own private MariaDB when it is");

const setup = useCluster("dt-e2e-mysql-");
let mariadb: PrivateMariadb | undefined;
afterEach(async () => {
  await mariadb?.destroy();
  mariadb = undefined;
});

/** Runs `body`; when it fails, prints the dt processes' and MariaDB's logs first, to show where the job was stuck. */
async function withLogs(c: Cluster, body: () => Promise<void>): Promise<void> {
  try {
    await body();
  } catch (err) {
    for (const p of [c.master, ...c.slaves]) if (p) console.error(`---- ${p.name} (${p.running ? "running" : "exited"}) ----\n${p.output}`);
    if (mariadb) console.error(`---- mariadbd error.log ----\n${mariadb.readLog().slice(-4000)}`);
    throw err;
  }
}

/** `dt master --db URL` as the cluster's master (cluster.startMaster only knows SQLite). */
async function startMysqlMaster(c: Cluster, dbUrl: string): Promise<MasterProcess> {
  const child = c.spawn("master", ["master", "--port", "0", "--host", "127.0.0.1", "--data-dir", join(c.dir, "master"), "--db", dbUrl, "--lease-ttl", "3s", "--heartbeat-interval", "1s"]);
  const match = await child.waitForOutput(/master listening on (http:\/\/127\.0\.0\.1:(\d+))/, "its listening line", START_DEADLINE_MS);
  const master = Object.assign(child, { url: match[1]!, port: Number(match[2]) });
  c.master = master;
  c.env.DIST_TEST_MASTER = master.url;
  return master;
}

/** A database failure in the master's log: a call that found the server gone, or a request that failed on it. */
const DB_FAILURE = /on MySQL \S+ failed|cannot open MySQL database/;

describe.skipIf(!gate)("the master's MariaDB stopped and restarted mid-job", () => {
  test("the master survives the outage and the job finishes with one success per task", async () => {
    const c = await setup();
    await withLogs(c, async () => {
      mariadb = await PrivateMariadb.start();
      const db = mariadb;
      const master = await startMysqlMaster(c, db.url("dt_e2e"));
      const slave = await c.startSlave("s1", 3);
      const hash = await c.archive({ "nap.sh": shellScript(`${RECORD_PID}\nsleep 2\necho "napped on attempt $DT_ATTEMPT"`) }, ["./nap.sh"]);
      // Six tasks on three slots: three run while the database goes away, three wait in the queue.
      const jobId = await c.submitNoWait(Array.from({ length: 6 }, (_, i) => ({ isolate_hash: hash, description: `nap_${i}` })));

      const isRunning = (t: TaskView) => t.attempts.some((a) => a.state === "RUNNING");
      await c.api.waitTasks(jobId, "some tasks to run", (tasks) => tasks.some(isRunning), 20_000);
      const logBefore = master.output.length;
      await db.stop();

      // The running tasks end within their 2 s nap and report into the outage: the master fails the report, the slave keeps trying.
      await master.waitForOutput(DB_FAILURE, "a database failure in its log while MariaDB is down", 15_000);
      await slave.waitForOutput(/POST result of lease .*retrying/, "a result report refused during the outage", 15_000);
      expect(master.output.slice(logBefore)).toMatch(DB_FAILURE);
      expect(master.running).toBe(true);

      await db.restart();
      const summary = await c.api.waitFinished(jobId, 40_000);
      const tasks = await c.api.tasks(jobId);
      expect(summary.status).toBe("finished");
      expect(summary.counts).toMatchObject({ total_tasks: 6, succeeded: 6, failed: 0, canceled: 0, finished: 6 });
      for (const task of tasks) {
        expect(task.attempts.filter((a) => a.state === "SUCCEEDED"), `${task.description}: ${describeTasks([task])}`).toHaveLength(1);
      }
      expect(master.running).toBe(true);
    });
  }, E2E_TEST_TIMEOUT_MS);
});
