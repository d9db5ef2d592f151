import { describe, expect, test } from "bun:test";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { cliEnv, jsonLogLines } from "../helpers/cli.ts";
import { shellScript } from "../helpers/tree.ts";
import { waitUntil } from "../helpers/wait.ts";
import { useSlaveSetup, withDeadline } from "./harness.ts";

const setup = useSlaveSetup();

const RUN_SLAVE = join(import.meta.dir, "run-slave.ts");

describe("dt slave as a process", () => {
  test("SIGTERM drains: the held long-poll is withdrawn, the running task finishes and is reported, then the slave exits 0", async () => {
    const s = await setup();
    const go = join(s.dir, "go");
    const hash = await s.archive({ "t.sh": shellScript('echo started\nwhile [ ! -e "$GO" ]; do sleep 0.02; done\necho done') }, { command: ["./t.sh"] });
    const [lease] = s.master.push({ isolate_hash: hash, env: { GO: go } });
    const child = Bun.spawn(
      [process.execPath, RUN_SLAVE, "--master", s.master.url, "--slots", "2", "--name", "proc-slave", "--dimensions", "pool=p1, os=linux",
        "--cache-dir", join(s.dir, "cache"), "--root-dir", join(s.dir, "runs"), "--drain-timeout", "30s", "--log-format", "json"],
      { env: cliEnv(join(s.dir, "home")), stdin: "ignore", stdout: "pipe", stderr: "pipe" },
    );
    const stderr = new Response(child.stderr).text();
    try {
      await waitUntil(() => s.master.log(lease!.lease_id, "stdout") === "started\n", "the task to start", 10_000);
      await waitUntil(() => s.master.waiting === 1, "the long-poll for the free slot");
      expect(s.master.leaseRequests[0]).toMatchObject({ free: 2, slave: { name: "proc-slave", slots: 2, dimensions: { pool: "p1", os: "linux", cpu: process.arch } } });

      child.kill("SIGTERM");
      await waitUntil(() => s.master.heartbeats.some((b) => b.slave.draining === true), "a heartbeat saying draining");
      await waitUntil(() => s.master.waiting === 0, "the long-poll to be withdrawn");
      const requestsAtDrain = s.master.leaseRequests.length;
      const [queued] = s.master.push({ isolate_hash: hash, env: { GO: go } });
      await writeFile(go, "");

      expect(await withDeadline(child.exited, 10_000, "the slave to exit")).toBe(0);
      expect(s.master.results.get(lease!.lease_id)).toMatchObject({ state: "SUCCEEDED", exit_code: 0 });
      expect(s.master.leaseRequests.length).toBe(requestsAtDrain);
      expect(s.master.queue.map((l) => l.lease_id)).toEqual([queued!.lease_id]);
      // Service logs carry the ids a log search needs.
      const lines = jsonLogLines(await stderr);
      expect(lines.some((l) => l.job_id === "job-1" && l.task_id === lease!.task_id && l.lease_id === lease!.lease_id)).toBe(true);
    } finally {
      await writeFile(go, "");
      child.kill("SIGKILL");
    }
  }, 20_000);

  test("a drained slave exits at once after its last report, not after the report's 1 s grace", async () => {
    const s = await setup();
    const hash = await s.archive({ "t.sh": shellScript("echo ran") }, { command: ["./t.sh"] });
    const [lease] = s.master.push({ isolate_hash: hash });
    const child = Bun.spawn(
      [process.execPath, RUN_SLAVE, "--master", s.master.url, "--slots", "1", "--name", "quick-exit",
        "--cache-dir", join(s.dir, "cache"), "--root-dir", join(s.dir, "runs"), "--log-format", "json"],
      { env: cliEnv(join(s.dir, "home")), stdin: "ignore", stdout: "ignore", stderr: "pipe" },
    );
    // When the slave says it is exiting, read off its log as it is written.
    let exitingAt: number | undefined;
    const stderr = (async () => {
      let text = "";
      for await (const chunk of child.stderr) {
        text += new TextDecoder().decode(chunk);
        if (exitingAt === undefined && text.includes("drained; exiting")) exitingAt = performance.now();
      }
      return text;
    })();
    try {
      await waitUntil(() => s.master.results.has(lease!.lease_id), "the task's report", 10_000);
      child.kill("SIGTERM");
      expect(await withDeadline(child.exited, 10_000, "the slave to exit")).toBe(0);
      const exitedAt = performance.now();
      await stderr;
      expect(exitingAt).toBeDefined();
      // A 1 s sleep started after each attempt (the report's grace before the slot is reused anyway) was never cancelled
      // and kept the drained process alive for it: dt local took about a second to end after its summary.
      expect(exitedAt - exitingAt!).toBeLessThan(500);
    } finally {
      child.kill("SIGKILL");
    }
  }, 20_000);

  test("without a master URL it says how to give one and exits 2", async () => {
    const s = await setup();
    const child = Bun.spawn([process.execPath, RUN_SLAVE, "--cache-dir", join(s.dir, "cache")], { env: cliEnv(join(s.dir, "home")), stdout: "pipe", stderr: "pipe" });
    const [code, stderr] = await Promise.all([withDeadline(child.exited, 10_000, "the slave to exit"), new Response(child.stderr).text()]);
    expect(code).toBe(2);
    expect(stderr).toContain("--master");
    expect(stderr).toContain("DIST_TEST_MASTER");
  }, 20_000);
});
