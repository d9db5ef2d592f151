/**
 * `--log-format json` on real processes: every line the master and a slave
 * write is one JSON object with time, level and msg, and every line that
 * names a job or a task carries its id as a field (job_id, task_id), so a
 * log query finds all of one job's lines across hosts.
 */
import { describe, expect, test } from "bun:test";
import { shellScript } from "../helpers/tree.ts";
import { E2E_TEST_TIMEOUT_MS, useCluster } from "./cluster.ts";

const setup = useCluster("dt-e2e-json-", { masterArgs: () => ["--log-format", "json", "--log-level", "debug"] });

describe("--log-format json", () => {
  test("one object per line; lines about a job or task carry job_id and task_id", async () => {
    const c = await setup();
    const master = await c.startMaster();
    const slave = await c.startSlave("s1", 2, ["--log-format", "json", "--log-level", "debug"]);
    const pass = await c.archive({ "t.sh": shellScript("echo ok") }, ["./t.sh"]);
    const fail = await c.archive({ "t.sh": shellScript("exit 3") }, ["./t.sh"]);
    const jobId = await c.submitNoWait([{ isolate_hash: pass, description: "passes" }, { isolate_hash: fail, description: "fails", max_retries: 1 }]);
    const summary = await c.api.waitFinished(jobId);
    expect(summary.counts).toMatchObject({ succeeded: 1, failed: 1, retries: 1 });
    const taskIds = (await c.api.tasks(jobId)).map((t) => t.task_id);

    for (const proc of [master, slave]) {
      const lines = proc.output.split("\n").filter((l) => l !== "");
      expect(lines.length).toBeGreaterThan(3);
      const entries = lines.map((line) => {
        let entry: Record<string, unknown>;
        try {
          entry = JSON.parse(line) as Record<string, unknown>;
        } catch {
          throw new Error(`${proc.name} wrote a line that is not JSON: ${line}`);
        }
        expect(typeof entry.time).toBe("string");
        expect(["info", "warn", "error", "debug", "trace", "log", "success"]).toContain(entry.level as string);
        expect(typeof entry.msg).toBe("string");
        return entry;
      });
      const aboutJob = entries.filter((e) => (e.msg as string).includes(jobId));
      const aboutTask = entries.filter((e) => taskIds.some((id) => (e.msg as string).includes(id)));
      expect(aboutTask.length, `${proc.name} names the tasks somewhere`).toBeGreaterThan(0);
      for (const e of aboutJob) expect(e.job_id, `${proc.name}: ${e.msg}`).toBe(jobId);
      for (const e of aboutTask) {
        expect(e.job_id, `${proc.name}: ${e.msg}`).toBe(jobId);
        expect(taskIds, `${proc.name}: ${e.msg}`).toContain(e.task_id as string);
      }
    }
    // The failed attempt and its retry are on the master's log, each with its attempt number.
    const failed = master.output.split("\n").filter((l) => l.includes('"state":"FAILED"')).map((l) => JSON.parse(l) as { attempt: number });
    expect(failed.map((e) => e.attempt).sort()).toEqual([0, 1]);
  }, E2E_TEST_TIMEOUT_MS);
});
