import { expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import loop from "../../src/commands/loop.ts";
import { summaryOf, taskOf } from "./fake-master.ts";
import { useClientWorld } from "./harness.ts";

const world = useClientWorld();
const HASH = "c".repeat(64);

test("loop submits one job with the task repeated N times as <desc>.<i>, then reports how many failed and exits 88", async () => {
  const w = await world();
  const file = join(w.dir, "one.json");
  writeFileSync(file, JSON.stringify({ tasks: [{ isolate_hash: HASH, description: "foo-test", timeout: 60, artifact_archive_globs: ["**/*.xml"] }] }));
  w.master.onSubmit = (req) => ({
    frames: [summaryOf(req.job_id!, { total_tasks: 4, finished: 4, succeeded: 3, failed: 1 })],
    tasks: [taskOf("x.2", "foo-test.2", "failed", [])],
  });
  const r = await w.run(loop, ["-n", "4", "--max-retries", "1", "--timeout", "30", file]);
  const [req] = w.master.submitted;
  expect(req!.tasks).toEqual([0, 1, 2, 3].map((i) => ({ isolate_hash: HASH, description: `foo-test.${i}`, timeout: 30, max_retries: 1, artifact_archive_globs: ["**/*.xml"] })));
  expect(r.stdout).toContain("FAILED foo-test.2");
  expect(r.stdout.trimEnd().split("\n").at(-1)).toBe("1 of 4 failed");
  expect(r.code).toBe(88);
});

test("loop takes a bare manifest digest and --description; --no-wait prints the job id", async () => {
  const w = await world();
  const r = await w.run(loop, ["-n", "3", "--description", "my-test", "--no-wait", HASH]);
  expect(r.code).toBe(0);
  expect(r.stdout).toBe("alice.1700000000.4242\n");
  expect(w.master.submitted[0]!.tasks.map((t) => t.description)).toEqual(["my-test.0", "my-test.1", "my-test.2"]);
  expect(w.master.submitted[0]!.tasks.every((t) => t.isolate_hash === HASH)).toBe(true);
});

test("loop refuses extra arguments after --, a file of several tasks, and a bad -n", async () => {
  const w = await world();
  const extra = await w.run(loop, ["-n", "3", HASH, "--", "--gtest_filter=Foo.*"]);
  expect(extra.code).toBe(2);
  expect(extra.stderr).toContain("does not pass extra arguments");
  const two = join(w.dir, "two.json");
  writeFileSync(two, JSON.stringify({ tasks: [{ isolate_hash: HASH, description: "a" }, { isolate_hash: HASH, description: "b" }] }));
  expect((await w.run(loop, ["-n", "3", two])).stderr).toContain("holds 2 tasks; dt loop repeats exactly one");
  expect((await w.run(loop, ["-n", "0", HASH])).code).toBe(2);
  expect(w.master.submitted).toEqual([]);
});
