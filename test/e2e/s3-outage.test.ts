/**
 * The master's S3 artifact store goes away mid-job, on real processes: a
 * private s3rver, `dt master --artifacts s3://…` and `dt slave`. While S3 is
 * down the master answers uploads 503 (JSON, no hang), the slave retries
 * and then gives up: the result is still reported, with the artifacts
 * marked missing and the log read from the master's live copy. Once S3 is
 * back, outputs are uploaded and their presigned links open.
 */
import { afterEach, expect, test } from "bun:test";
import type { S3Client } from "@aws-sdk/client-s3";
import { existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { PrivateS3, S3RVER_ENV, createBucket, testS3Client } from "../helpers/s3.ts";
import { shellScript } from "../helpers/tree.ts";
import { type Cluster, type MasterProcess, describeTasks, useCluster } from "./cluster.ts";
import { RECORD_PID, START_DEADLINE_MS } from "./processes.ts";

/**
 * The slave tries an upload 8 times over about 16 s of backoff, once for
 * the artifacts and then for the logs: about 35 s of the test is that.
 */
const OUTAGE_TEST_TIMEOUT_MS = 120_000;

let s3: PrivateS3 | undefined;
let admin: S3Client | undefined;
let bucket = "";
afterEach(async () => {
  admin?.destroy();
  admin = undefined;
  await s3?.destroy();
  s3 = undefined;
});
const setup = useCluster("dt-e2e-s3-");

/** `dt master --artifacts s3://… --s3-endpoint …` as the cluster's master (cluster.startMaster knows no S3 flags). */
async function startS3Master(c: Cluster): Promise<MasterProcess> {
  const child = c.spawn("master", [
    "master", "--port", "0", "--host", "127.0.0.1", "--data-dir", join(c.dir, "master"), "--lease-ttl", "3s", "--heartbeat-interval", "1s",
    "--artifacts", `s3://${bucket}/artifacts`, "--s3-endpoint", s3!.endpoint,
  ]);
  const match = await child.waitForOutput(/master listening on (http:\/\/127\.0\.0\.1:(\d+))/, "its listening line", START_DEADLINE_MS);
  const master = Object.assign(child, { url: match[1]!, port: Number(match[2]) });
  c.master = master;
  c.env.DIST_TEST_MASTER = master.url;
  return master;
}

async function withLogs(c: Cluster, body: () => Promise<void>): Promise<void> {
  try {
    await body();
  } catch (err) {
    for (const p of [c.master, ...c.slaves]) if (p) console.error(`---- ${p.name} (${p.running ? "running" : "exited"}) ----\n${p.output.slice(-6000)}`);
    throw err;
  }
}

test("S3 down during a job: uploads get 503, the slave gives up, the result is reported with the artifacts missing; S3 back: links work", async () => {
  s3 = await PrivateS3.start();
  admin = await testS3Client(s3.endpoint);
  bucket = await createBucket(admin, "dt-e2e");
  const c = await setup();
  Object.assign(c.env, S3RVER_ENV);
  await withLogs(c, async () => {
    const master = await startS3Master(c);
    const slave = await c.startSlave("s1", 1);
    const gate = join(c.dir, "gate");
    // Waits for the gate, so that S3 can be stopped while the command runs and before anything is uploaded.
    const hash = await c.archive(
      { "job.sh": shellScript(`${RECORD_PID}\necho "output of attempt $DT_ATTEMPT"\nwhile [ ! -e "$GATE" ]; do sleep 0.05; done\nmkdir -p out && echo artifact > out/a.txt`) },
      ["./job.sh"],
    );
    const task = { isolate_hash: hash, description: "s3_job", artifact_archive_globs: ["out/*"], env: { GATE: gate } };

    const jobId = await c.submitNoWait([task]);
    await c.api.waitTasks(jobId, "the task to run", (tasks) => tasks[0]!.attempts.some((a) => a.state === "RUNNING"), 20_000);
    await s3!.stop();

    // A read of an object through the master while S3 is down: 503 with dt's JSON, not a 500.
    const read = await fetch(`${master.url}/api/v1/artifacts/${encodeURIComponent(`${jobId}.x.0.stdout`)}`);
    expect(read.status).toBe(503);
    expect(await read.json()).toMatchObject({ code: "unreachable", error: expect.stringContaining(`s3://${bucket}/artifacts/`) });

    writeFileSync(gate, "");
    await slave.waitForOutput(/PUT artifacts of lease \S+ \(.*\): 503 PUT s3:\/\//, "the master's 503 to an artifact upload", 20_000);
    const summary = await c.api.waitFinished(jobId, 90_000);
    expect(summary.counts).toMatchObject({ total_tasks: 1, succeeded: 1, finished: 1 });
    const [done] = await c.api.tasks(jobId);
    const attempt = done!.attempts[0]!;
    expect(attempt.state, describeTasks([done!])).toBe("SUCCEEDED");
    expect(attempt.artifact_missing).toBe(true);
    expect(attempt.artifact_archive_link).toBeNull();
    expect(attempt.stdout_link).toBeNull();
    expect(slave.output).toMatch(/upload of artifacts failed, reporting without it/);
    // The log was not stored in S3, but the master kept its live copy.
    const log = await fetch(`${master.url}/api/v1/jobs/${encodeURIComponent(jobId)}/log?task=${encodeURIComponent(done!.task_id)}&attempt=0`);
    expect(await log.text()).toBe("output of attempt 0\n");
    expect(master.running).toBe(true);

    // S3 back: the next job's outputs land in S3 and both kinds of links open them.
    await s3!.restart();
    const second = await c.submitNoWait([task]);
    const finished = await c.api.waitFinished(second, 30_000);
    expect(finished.counts).toMatchObject({ succeeded: 1 });
    const [ok] = await c.api.tasks(second);
    const a = ok!.attempts[0]!;
    expect(a.artifact_missing).toBe(false);
    expect(new URL(a.stdout_link!).origin).toBe(s3!.endpoint);
    expect(await (await fetch(a.stdout_link!)).text()).toBe("output of attempt 0\n");
    expect(await (await fetch(a.stdout_master_link!)).text()).toBe("output of attempt 0\n");
    expect((await fetch(a.artifact_archive_link!)).status).toBe(200);
    expect(existsSync(gate)).toBe(true);
  });
}, OUTAGE_TEST_TIMEOUT_MS);
