/**
 * jobs/auto-shards.ts against a real SQLite repo: a valid job's auto tasks
 * become their planned shards (or numeric ones without history), every task
 * numbered again, the others untouched.
 */
import { afterEach, beforeEach, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expandAutoShards } from "../../src/master/jobs/auto-shards.ts";
import { validateJobRequest } from "../../src/master/jobs/job-request.ts";
import { taskBinary } from "../../src/master/model.ts";
import { SqliteRepo } from "../../src/master/repo/sqlite.ts";
import { DEFAULT_FIRST_RUN_SHARDS } from "../../src/master/scheduler/shard-planner.ts";
import { HASH as TEST_HASH, slave, testMaster } from "./helpers.ts";

const HASH = "a".repeat(64);
const OTHER = "b".repeat(64);
let dir: string;
let repo: SqliteRepo;
beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), "dt-auto-shards-"));
  repo = await SqliteRepo.open(join(dir, "dt.sqlite"));
});
afterEach(async () => {
  await repo.close();
  rmSync(dir, { recursive: true, force: true });
});

/** History: the binary's cases as one earlier job reported them, `ms` each. */
async function history(binary: string, ms: number[]): Promise<void> {
  await repo.storeCases({ jobId: "old", taskId: "t", attempt: 0, binary, reportedAt: 1 }, ms.map((durationMs, i) => ({ suite: "S", name: `c${i}`, status: "passed" as const, durationMs, message: null, file: null, line: null })));
}

test("no history: numeric shards as shards: N makes them; the tasks around are numbered again", async () => {
  const valid = validateJobRequest({ tasks: [{ isolate_hash: OTHER, description: "before" }, { isolate_hash: HASH, description: "bin", shards: "auto", env: { A: "1" } }, { isolate_hash: OTHER, description: "after", shards: 2 }] });
  const tasks = (await expandAutoShards(valid, repo)).tasks;
  const n = DEFAULT_FIRST_RUN_SHARDS;
  expect(tasks.map((t) => [t.index, t.taskId, t.description])).toEqual([
    [0, `${OTHER}.0`, "before"],
    ...Array.from({ length: n }, (_, i) => [1 + i, `${HASH}.${1 + i}`, `bin.${i}`]),
    [n + 1, `${OTHER}.${n + 1}`, "after.0"], [n + 2, `${OTHER}.${n + 2}`, "after.1"],
  ]);
  const shard = tasks[3]!;
  expect(shard).toMatchObject({ shardIndex: 2, shardCount: n, caseSelection: null, env: { A: "1", GTEST_SHARD_INDEX: "2", GTEST_TOTAL_SHARDS: String(n) } });
  expect(taskBinary(shard)).toBe("bin");
});

test("no case history, a known duration: as many numeric shards as the duration needs", async () => {
  await repo.recordDuration("bin", 150_000, 1);
  const tasks = (await expandAutoShards(validateJobRequest({ tasks: [{ isolate_hash: HASH, description: "bin", shards: "auto" }] }), repo)).tasks;
  expect(tasks.map((t) => [t.description, t.shardCount])).toEqual([["bin.0", 3], ["bin.1", 3], ["bin.2", 3]]);
});

test("with history: shards with case selections, the exclusion last, descriptions and shard fields as numeric shards have them", async () => {
  await history("bin", [40_000, 30_000, 30_000, 10_000, 10_000, 5_000, 5_000]);
  const expanded = await expandAutoShards(validateJobRequest({ tasks: [{ isolate_hash: OTHER, description: "first" }, { isolate_hash: HASH, description: "bin", shards: "auto", shard_seconds: 40, env: { GTEST_SHARD_INDEX: "9" } }] }), repo);
  const tasks = expanded.tasks.slice(1);
  // Each shard's planned time, by its index in the job, seeds the queue (longest first) and the ETA.
  expect([...expanded.plannedMs!]).toEqual([[1, 40_000], [2, 30_000], [3, 30_000], [4, 30_000]]);
  // 130 s over shards of at most 40 s: 4.
  expect(tasks.map((t) => [t.description, t.shardIndex, t.shardCount, taskBinary(t)])).toEqual([0, 1, 2, 3].map((i) => [`bin.${i}`, i, 4, "bin"]));
  expect(tasks.slice(0, 3).every((t) => t.caseSelection !== null && "include" in t.caseSelection)).toBe(true);
  expect(tasks[3]!.caseSelection).toMatchObject({ exclude: expect.any(Array) });
  // No numeric variables are added to a shard with a selection (the lease drops the user's too).
  expect(tasks[0]!.env).toEqual({ GTEST_SHARD_INDEX: "9" });
});

test("a short binary stays one task, unchanged; a runner with its own filter and no history runs whole once", async () => {
  await history("short", [100, 200]);
  const valid = validateJobRequest({ tasks: [
    { isolate_hash: HASH, description: "short", shards: "auto" },
    { isolate_hash: HASH, description: "py", shards: "auto", case_filter: { arg: "{case}", case: "{suite}::{name}", exclude: "--deselect={case}" } },
  ] });
  const tasks = (await expandAutoShards(valid, repo)).tasks;
  expect(tasks.map((t) => [t.index, t.description, t.shardIndex, t.caseSelection, t.env])).toEqual([[0, "short", null, null, {}], [1, "py", null, null, {}]]);
});

test("a job without auto tasks is returned as it is, without reading the database", async () => {
  const valid = validateJobRequest({ tasks: [{ isolate_hash: HASH, description: "x", shards: 3 }] });
  const unread = { binaryCaseDurations: () => Promise.reject(new Error("read")), expectedDurations: () => Promise.reject(new Error("read")) };
  expect(await expandAutoShards(valid, unread)).toBe(valid);
});

test("past the job's bytes of case lists, later auto tasks get numeric shards of the planned count", async () => {
  await history("bin", [40_000, 30_000, 30_000, 10_000, 10_000, 5_000, 5_000]);
  const valid = validateJobRequest({ tasks: [0, 1, 2].map(() => ({ isolate_hash: HASH, description: "bin", shards: "auto", shard_seconds: 40 })) });
  // One task's lists: the 3 cases of its include lists, named again in the exclusion, ~27 bytes each: about 160 bytes.
  const tasks = (await expandAutoShards(valid, repo, undefined, 400)).tasks;
  expect(tasks.map((t): (string | null)[] => [t.description, t.caseSelection === null ? "numeric" : "cases", t.env.GTEST_TOTAL_SHARDS ?? null])).toEqual([
    ...[0, 1, 2, 3].map((i) => [`bin.${i}`, "cases", null]), ...[0, 1, 2, 3].map((i) => [`bin.${i}`, "cases", null]), ...[0, 1, 2, 3].map((i) => [`bin.${i}`, "numeric", "4"]),
  ]);
});

test("a task's own GTEST_FILTER: include lists name only the cases it runs; a filter too costly to check gets numeric shards", async () => {
  await history("bin", [40_000, 30_000, 30_000, 10_000, 10_000, 5_000, 5_000]);
  const expand = async (filter: string) => (await expandAutoShards(validateJobRequest({ tasks: [{ isolate_hash: HASH, description: "bin", shards: "auto", shard_seconds: 10, env: { GTEST_FILTER: filter } }] }), repo)).tasks;
  const included = (await expand("-S.c0:S.c3")).flatMap((t) => (t.caseSelection && "include" in t.caseSelection ? t.caseSelection.include.map((c) => c.name) : []));
  expect(included.length).toBeGreaterThan(0);
  expect(included.filter((n) => n === "c0" || n === "c3")).toEqual([]);
  const costly = await expand(`${"*x".repeat(1_000)}`);
  expect(costly.map((t) => [t.caseSelection, t.env.GTEST_TOTAL_SHARDS])).toEqual(costly.map(() => [null, String(costly.length)]));
});

test("auto shards stored by a master that restarts lease with their filters after the rebuild; numeric variables dropped", async () => {
  const h = await testMaster();
  try {
    await h.master.deps.repo.storeCases({ jobId: "old", taskId: "t", attempt: 0, binary: "bin", reportedAt: 1 }, [40_000, 30_000, 30_000, 10_000].map((durationMs, i) => ({ suite: "S", name: `c${i}`, status: "passed" as const, durationMs, message: null, file: null, line: null })));
    await h.master.submitJob({ job_id: "j", tasks: [{ isolate_hash: TEST_HASH, description: "bin", shards: "auto", shard_seconds: 40, env: { GTEST_SHARD_INDEX: "1", GTEST_TOTAL_SHARDS: "2", KEEP: "1" } }] });
    const restarted = await h.restart();
    const leases = await restarted.dispatcher.lease({ slave: slave("s1", {}, 8), free: 8, wait_ms: 0 });
    expect(leases.map((l): (string | null)[] => [l.description, l.env.GTEST_FILTER, l.env.GTEST_SHARD_INDEX ?? null, l.env.KEEP]).sort()).toEqual([
      ["bin.0", "S.c0", null, "1"], ["bin.1", "S.c2", null, "1"], ["bin.2", "*-S.c0:S.c2", null, "1"],
    ]);
  } finally {
    await h.cleanup();
  }
});

test("the pool: a binary with most of the job's work gets that share of the slots, rounded down, so the other tasks keep one", async () => {
  await history("bin", Array.from({ length: 200 }, () => 300)); // 60 s
  await repo.recordDuration("short", 4_000, 1);
  const job = validateJobRequest({ tasks: [{ isolate_hash: HASH, description: "bin", shards: "auto", dimensions: { pool: "a" } }, { isolate_hash: OTHER, description: "short" }] });
  const asked: Record<string, string>[] = [];
  const slotsFor = (dimensions: Record<string, string>) => (asked.push(dimensions), 8);
  const tasks = (await expandAutoShards(job, repo, undefined, undefined, slotsFor)).tasks;
  // 8 slots × 60 ÷ 64 s of work = 7.5: 7 shards of about 8.6 s, and the short task takes the eighth slot.
  expect(tasks.filter((t) => taskBinary(t) === "bin").length).toBe(7);
  expect(asked).toEqual([{ pool: "a" }]);
  // No live slot (or no pool given): the 60 s target alone, one task.
  expect((await expandAutoShards(job, repo, undefined, undefined, () => 0)).tasks.length).toBe(2);
  expect((await expandAutoShards(job, repo)).tasks.length).toBe(2);
});
