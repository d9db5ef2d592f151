import { expect, test } from "bun:test";
import { readFileSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { strToU8, zipSync } from "fflate";
import submit from "../../src/commands/submit.ts";
import { attemptOf, summaryOf, taskOf } from "./fake-master.ts";
import { useClientWorld } from "./harness.ts";

const world = useClientWorld();
const HASH = "a".repeat(64);

function writeTasks(dir: string, tasks: unknown[]): string {
  const path = join(dir, "tasks.json");
  writeFileSync(path, JSON.stringify({ tasks }));
  return path;
}

test("submit --no-wait posts the tasks under a dist_test job id and writes the id, without a newline, to the job path", async () => {
  const w = await world();
  const tasks = writeTasks(w.dir, [
    { isolate_hash: HASH, description: "foo-test", timeout: 930, max_retries: 2, artifact_archive_globs: ["build/*/test-logs/**/*"], shards: 4, env: { A: "1" }, dimensions: { os: "linux" }, priority: 3, docker_image: "x" },
    { isolate_hash: HASH, description: "bar-test" },
  ]);
  const r = await w.run(submit, ["--no-wait", tasks]);
  expect(r.code).toBe(0);
  const jobId = "alice.1700000000.4242";
  expect(r.stdout).toBe(`${jobId}\n`);
  expect(readFileSync(w.jobPath, "utf8")).toBe(jobId);
  expect(r.stderr).toContain(`Watch your results at ${w.master.url}/job/${jobId}`);
  expect(r.stderr).toContain("ignoring dist_test's task keys docker_image (dt accepts them and does not use them)");
  expect(w.master.submitted).toEqual([
    {
      job_id: jobId,
      user: "alice",
      tasks: [
        { isolate_hash: HASH, description: "foo-test", timeout: 930, max_retries: 2, artifact_archive_globs: ["build/*/test-logs/**/*"], shards: 4, env: { A: "1" }, dimensions: { os: "linux" }, priority: 3 },
        { isolate_hash: HASH, description: "bar-test" },
      ],
    },
  ]);
  // Nothing but the submit: --no-wait does not poll.
  expect(w.master.requests.map((q) => `${q.method} ${q.path}`)).toEqual(["POST /api/v1/jobs"]);
});

test("submit -n NAME --priority P prefixes the job id and sends the name and priority", async () => {
  const w = await world();
  const tasks = writeTasks(w.dir, [{ isolate_hash: HASH, description: "t" }]);
  const r = await w.run(submit, ["-n", "nightly", "--priority", "5", "--no-wait", tasks]);
  expect(r.code).toBe(0);
  expect(w.master.submitted[0]).toMatchObject({ job_id: "nightly.alice.1700000000.4242", name: "nightly", priority: 5 });
  expect(readFileSync(w.jobPath, "utf8")).toBe("nightly.alice.1700000000.4242");
});

test("submit watches to the end and exits 0 when every task passed", async () => {
  const w = await world();
  w.master.onSubmit = (req) => ({
    frames: [summaryOf(req.job_id!, { total_tasks: 2, running: 2 }), summaryOf(req.job_id!, { total_tasks: 2, finished: 2, succeeded: 2 })],
    tasks: [],
  });
  const r = await w.run(submit, [writeTasks(w.dir, [{ isolate_hash: HASH, description: "a" }, { isolate_hash: HASH, description: "b" }])]);
  expect(r.stdout).toBe(" 0.0s\t 0/2 tests complete (2 running, 0 queued)\n 1.0s\t 2/2 tests complete\n");
  expect(r.code).toBe(0);
});

test("submit refuses a task file without tasks, a task without a hash, and a name that cannot be part of a job id", async () => {
  const w = await world();
  const empty = join(w.dir, "empty.json");
  writeFileSync(empty, JSON.stringify({ tasks: [] }));
  expect((await w.run(submit, [empty])).stderr).toContain('"tasks" is empty');
  const noHash = writeTasks(w.dir, [{ description: "x" }]);
  const r = await w.run(submit, [noHash]);
  expect(r.code).toBe(2);
  expect(r.stderr).toContain("tasks[0].isolate_hash must be a non-empty string");
  const badName = await w.run(submit, ["-n", "my tests", writeTasks(w.dir, [{ isolate_hash: HASH, description: "x" }])]);
  expect(badName.code).toBe(2);
  expect(badName.stderr).toContain('job name "my tests"');
  expect((await w.run(submit, [join(w.dir, "missing.json")])).code).toBe(3);
  expect(w.master.submitted).toEqual([]);
});

test("submit -l -a fetches logs and archives of every finished attempt into -d once the job is over; a failed job still exits 88", async () => {
  const w = await world();
  w.master.artifacts.set("o", "the output");
  w.master.artifacts.set("z", zipSync({ "logs/t.txt": strToU8("inside") }));
  w.master.onSubmit = (req) => ({
    frames: [summaryOf(req.job_id!, { total_tasks: 1, finished: 1, failed: 1 })],
    tasks: [taskOf("h.0", "t", "failed", [attemptOf(0, "FAILED", { stdout_link: "/api/v1/artifacts/o", artifact_archive_link: "/api/v1/artifacts/z" })])],
  });
  const out = join(w.dir, "results");
  const r = await w.run(submit, ["-l", "-a", "-d", out, writeTasks(w.dir, [{ isolate_hash: HASH, description: "t" }])]);
  expect(r.code).toBe(88);
  expect(readdirSync(out).sort()).toEqual(["h_0.0.t", "h_0.0.t.stdout", "h_0.0.t.zip"]);
  expect(readFileSync(join(out, "h_0.0.t", "logs", "t.txt"), "utf8")).toBe("inside");
});
