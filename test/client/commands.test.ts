import { expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import cancel from "../../src/commands/cancel.ts";
import jobs from "../../src/commands/jobs.ts";
import status from "../../src/commands/status.ts";
import submit from "../../src/commands/submit.ts";
import { summaryOf } from "./fake-master.ts";
import { useClientWorld } from "./harness.ts";

const world = useClientWorld();
const JOB = "alice.1700000000.11";

test("cancel POSTs to the job's cancel route and prints the resulting status", async () => {
  const w = await world();
  w.master.addJob(JOB, { frames: [summaryOf(JOB, { total_tasks: 5, finished: 2, succeeded: 2, running: 1, queued: 2 })], tasks: [] });
  const r = await w.run(cancel, [JOB]);
  expect(r.code).toBe(0);
  expect(w.master.requests.map((q) => `${q.method} ${q.path}`)).toEqual([`POST /api/v1/jobs/${JOB}/cancel`]);
  expect(r.stdout).toBe(
    [
      `Job ${JOB} (alice): finished (canceled)`,
      "  5/5 tasks finished: 2 succeeded, 0 failed, 0 flaky, 3 canceled",
      "  0 running, 0 queued, 0 retries",
      `  ${w.master.url}/job/${JOB}`,
      "",
    ].join("\n"),
  );
});

test("cancel of a job that does not exist exits 3 naming it", async () => {
  const w = await world();
  const r = await w.run(cancel, ["ghost.1.1"]);
  expect(r.code).toBe(3);
  expect(r.stderr).toContain('no job "ghost.1.1"');
});

test("status --json prints the master's JobSummary; without --json, counts and the time left", async () => {
  const w = await world();
  const summary = summaryOf(JOB, { total_tasks: 4, finished: 1, succeeded: 1, running: 2, queued: 1 }, { estimated_remaining_sec: 90, name: "nightly" });
  w.master.addJob(JOB, { frames: [summary], tasks: [] });
  const json = await w.run(status, ["--json", JOB]);
  expect(json.code).toBe(0);
  expect(JSON.parse(json.stdout)).toEqual(summary);
  const text = await w.run(status, [JOB]);
  expect(text.stdout).toContain(`Job ${JOB} (alice, nightly): running`);
  expect(text.stdout).toContain("about 1m30s left");
});

test("status after submit uses the most recently submitted job id and says so", async () => {
  const w = await world();
  const tasks = join(w.dir, "tasks.json");
  writeFileSync(tasks, JSON.stringify({ tasks: [{ isolate_hash: "b".repeat(64), description: "t" }] }));
  expect((await w.run(submit, ["--no-wait", tasks])).code).toBe(0);
  const r = await w.run(status, ["--json"]);
  expect(r.stderr).toContain("Using most recently submitted job id: alice.1700000000.4242");
  expect(JSON.parse(r.stdout).job_id).toBe("alice.1700000000.4242");
});

test("an id that cannot be a job id is refused before any request", async () => {
  const w = await world();
  const r = await w.run(status, ["../../etc"]);
  expect(r.code).toBe(2);
  expect(w.master.requests).toEqual([]);
});

test("jobs prints a table of recent jobs, passes the filters on, and --json prints the list", async () => {
  const w = await world();
  w.master.addJob("a.alice.1.1", { frames: [summaryOf("a.alice.1.1", { total_tasks: 10, finished: 10, succeeded: 8, failed: 1, flaky: 1 }, { name: "a" })], tasks: [] });
  w.master.addJob("bob.2.2", { frames: [summaryOf("bob.2.2", { total_tasks: 3, running: 3 }, { user: "bob" })], tasks: [] });
  const table = await w.run(jobs, []);
  expect(table.code).toBe(0);
  expect(table.stdout.split("\n")).toEqual([
    "JOB          USER   STATUS    DONE   FAILED  FLAKY  CREATED",
    "a.alice.1.1  alice  finished  10/10  1       1      2023-11-14 22:13:20Z",
    "bob.2.2      bob    running   0/3    0       0      2023-11-14 22:13:20Z",
    "",
  ]);
  const filtered = await w.run(jobs, ["--user", "bob", "--name", "x y", "--limit", "5", "--json"]);
  expect(w.master.requests.at(-1)!.path).toBe("/api/v1/jobs?user=bob&name=x+y&limit=5");
  expect(JSON.parse(filtered.stdout)).toEqual([]);
  expect((await w.run(jobs, ["--limit", "0"])).code).toBe(2);
});
