/**
 * Issue 15 end to end (reuse of identical idempotent tasks), on a real `dt
 * master` and `dt slave`:
 * - an idempotent tasks file through `dt submit`, twice: the second job
 *   finishes with every task reused from the first and nothing run, and
 *   the client says so;
 * - two identical idempotent jobs POSTed at once to the native API: the
 *   second waits for the first's runs and takes their results.
 * "Nothing run" is what the master says (counts, `reused_from` on each
 * attempt) and what the slave side shows: each run of the script leaves
 * a file.
 */
import { expect, test } from "bun:test";
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { JobCreated, TaskRequest, TaskView } from "../../src/master/protocol.ts";
import { shellScript } from "../helpers/tree.ts";
import { E2E_TEST_TIMEOUT_MS, useCluster } from "./cluster.ts";

const setup = useCluster("dt-e2e-reuse-");

/**
 * Leaves `<job>.<task>.ran` in $PID_DIR (the cluster's; slaves hand their
 * environment to tasks, so it is in no task's key) and prints its input.
 */
const SUITE = { "task.sh": shellScript('touch "$PID_DIR/$DT_JOB_ID.$DT_TASK_ID.ran"\necho "ran $N"') };

/** How many runs the slave made for `jobId`, from the files the script left. */
const runsOf = (pidDir: string, jobId: string) => readdirSync(pidDir).filter((f) => f.startsWith(`${jobId}.`) && f.endsWith(".ran")).length;

/** POST /api/v1/jobs; returns the job id. */
async function submit(masterUrl: string, tasks: TaskRequest[]): Promise<string> {
  const response = await fetch(`${masterUrl}/api/v1/jobs`, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ user: "e2e", tasks }) });
  if (!response.ok) throw new Error(`POST /api/v1/jobs: ${response.status} ${await response.text()}`);
  return ((await response.json()) as JobCreated).job_id;
}

const byDescription = (tasks: TaskView[]) => new Map(tasks.map((t) => [t.description, t]));

test("an idempotent job submitted twice with dt submit: the second reuses every task's result and runs nothing", async () => {
  const c = await setup();
  await c.startMaster();
  await c.startSlave("s1", 2);
  const hash = await c.archive(SUITE, ["./task.sh"]);
  const tasks: TaskRequest[] = [0, 1, 2].map((n) => ({ isolate_hash: hash, description: `reusable_${n}`, env: { N: String(n) }, idempotent: true }));

  const firstJob = await c.submitNoWait(tasks);
  const first = await c.api.waitFinished(firstJob);
  expect(first.counts).toMatchObject({ total_tasks: 3, succeeded: 3, reused: 0 });
  expect(runsOf(c.pidDir, firstJob)).toBe(3);
  const originals = byDescription(await c.api.tasks(firstJob));

  // The same tasks file again, waited for: the client's own account of it.
  writeFileSync(join(c.dir, "again.json"), JSON.stringify({ tasks }));
  const again = await c.dt(["submit", "again.json", "--poll-interval", "0.2"]);
  expect(again.exitCode, again.stderr).toBe(0);
  expect(`${again.stdout}${again.stderr}`).toContain("3 tasks: 3 reused, 0 ran");
  const secondJob = readFileSync(join(c.env.HOME!, ".dist-test-last-job"), "utf8").trim();
  expect(secondJob).not.toBe(firstJob);
  const second = await c.api.job(secondJob);
  expect(second.counts).toMatchObject({ total_tasks: 3, succeeded: 3, reused: 3, coalesced: 0, waiting: 0 });
  expect(second.counts.saved_ms).toBeGreaterThan(0);
  expect(runsOf(c.pidDir, secondJob)).toBe(0);
  for (const task of await c.api.tasks(secondJob)) {
    const original = originals.get(task.description)!;
    // One attempt, which is the original's result, logs included.
    expect(task.attempts).toHaveLength(1);
    const [attempt] = task.attempts;
    expect(attempt!.state).toBe("SUCCEEDED");
    expect(attempt!.reused_from).toMatchObject({ job_id: firstJob, task_id: original.task_id, attempt: 0, in_flight: false });
    expect(await (await fetch(attempt!.stdout_master_link!)).text()).toBe(`ran ${task.description.slice(-1)}\n`);
  }
  // Nothing ran for the second job meanwhile, on the slave's side either.
  expect(runsOf(c.pidDir, firstJob)).toBe(3);
}, E2E_TEST_TIMEOUT_MS);

test("two identical idempotent jobs at once: the tasks the first job runs, the second waits for, and each identical pair runs once", async () => {
  const c = await setup();
  const master = await c.startMaster();
  await c.startSlave("s1", 2);
  // Each run waits for the gate, so the first job's attempts are still in flight when the second is submitted.
  const gated = { "task.sh": shellScript(`touch "$PID_DIR/$DT_JOB_ID.$DT_TASK_ID.ran"\nwhile [ ! -e "$PID_DIR/gate" ]; do sleep 0.05; done\necho "ran $N"`) };
  const hash = await c.archive(gated, ["./task.sh"]);
  const tasks: TaskRequest[] = [0, 1, 2].map((n) => ({ isolate_hash: hash, description: `coalesced_${n}`, env: { N: String(n) }, idempotent: true }));

  const firstJob = await submit(master.url, tasks);
  // The slave's two slots take two of the first job's tasks; the third stays queued.
  const deadline = Date.now() + 20_000;
  while ((await c.api.job(firstJob)).counts.running < 2 && Date.now() < deadline) await Bun.sleep(50);
  const secondJob = await submit(master.url, tasks);
  // Two identical tasks run: the second job waits for them. The third is queued in both jobs, each in its own place.
  expect((await c.api.job(secondJob)).counts).toMatchObject({ waiting: 2, queued: 3, reused: 0 });
  writeFileSync(join(c.pidDir, "gate"), "");

  const [first, second] = await Promise.all([c.api.waitFinished(firstJob), c.api.waitFinished(secondJob)]);
  expect(first.counts.succeeded).toBe(3);
  expect(second.counts.succeeded).toBe(3);
  // Six tasks, three runs: whichever copy of the third task a slot took first ran, the other took its result.
  expect(runsOf(c.pidDir, firstJob) + runsOf(c.pidDir, secondJob)).toBe(3);
  expect((first.counts.reused ?? 0) + (second.counts.reused ?? 0)).toBe(3);
  expect((first.counts.coalesced ?? 0) + (second.counts.coalesced ?? 0)).toBe(3);
  for (const jobId of [firstJob, secondJob]) {
    for (const task of await c.api.tasks(jobId)) {
      expect(task.attempts).toHaveLength(1);
      const from = task.attempts[0]!.reused_from;
      if (!from) continue;
      expect(from).toMatchObject({ job_id: jobId === firstJob ? secondJob : firstJob, in_flight: true });
      expect(from.saved_ms).toBeGreaterThan(0);
    }
  }
}, E2E_TEST_TIMEOUT_MS);
