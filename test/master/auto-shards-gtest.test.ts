/**
 * Auto shards planned from a real gtest binary's history (DT_TEST_GTEST_BIN),
 * each shard run with the environment its lease gives it: over the shards,
 * every case the task's own GTEST_FILTER runs, runs exactly once, and no
 * other. The history is an unfiltered run; the jobs planned from it filter.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { renderCaseFilter } from "../../src/master/cases/case-filter.ts";
import { expandAutoShards } from "../../src/master/jobs/auto-shards.ts";
import { validateJobRequest } from "../../src/master/jobs/job-request.ts";
import { SqliteRepo } from "../../src/master/repo/sqlite.ts";
import { readResults } from "../../src/results/collect.ts";
import { gtestBin, gtestBinMissing, listTests, runGtest } from "../helpers/gtest.ts";

const MISSING = gtestBinMissing();
if (MISSING) console.warn(`SKIP test/master/auto-shards-gtest.test.ts: ${MISSING}`);

const HASH = "a".repeat(64);
let dir: string;
let repo: SqliteRepo;
let runs = 0;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "dt-auto-shards-gtest-"));
  repo = await SqliteRepo.open(join(dir, "dt.sqlite"));
});
afterAll(async () => {
  await repo?.close();
  rmSync(dir, { recursive: true, force: true });
});

/** The cases one run of the binary with `env` reported, as `Suite.name`. */
async function ran(env: Record<string, string>): Promise<string[]> {
  const run = await runGtest(gtestBin()!, { dir: mkdtempSync(join(dir, `run-${runs++}-`)), xml: true, env });
  return (await readResults({ outputsDir: run.outputsDir, stdoutLog: null, exitCode: run.exitCode })).cases.map((c) => `${c.suite}.${c.name}`);
}

describe.skipIf(MISSING !== undefined)("auto shards with the real gtest binary and the task's own GTEST_FILTER", () => {
  test.each([
    ["no filter", undefined],
    ["a negative part only", "-MathTest.FailsOnPurpose:Small/*"],
    ["a positive part", "SizeTest/*:MathTest.*:Small/ParityTest.IsEven/1"],
    ["both", "SizeTest/*:MathTest.*:Small/*-SizeTest/1.*:MathTest.Adds"],
  ])("%s: each case the filter runs, once", async (_, userFilter) => {
    // History: one unfiltered run of every case, 1 s each (the sample's take 0 ms, which plans one shard).
    const bin = gtestBin()!;
    const history = await runGtest(bin, { dir: mkdtempSync(join(dir, "history-")), xml: true });
    const cases = (await readResults({ outputsDir: history.outputsDir, stdoutLog: null, exitCode: history.exitCode })).cases;
    await repo.storeCases({ jobId: `old-${runs++}`, taskId: "t", attempt: 0, binary: "sample", reportedAt: runs }, cases.map((c) => ({ ...c, durationMs: 1_000 })));

    const env: Record<string, string> = { GTEST_SHARD_INDEX: "0", GTEST_TOTAL_SHARDS: "2", ...(userFilter === undefined ? {} : { GTEST_FILTER: userFilter }) };
    const valid = validateJobRequest({ tasks: [{ isolate_hash: HASH, description: "sample", shards: "auto", shard_seconds: 3, env }] });
    const shards = (await expandAutoShards(valid, repo)).tasks;
    expect(shards.length).toBeGreaterThan(2);
    const all: string[] = [];
    for (const shard of shards) {
      // As the lease renders it (scheduler/transitions/lease.ts leaseBody).
      const filter = shard.caseSelection ? renderCaseFilter(shard.caseFilter, shard.caseSelection, shard.env) : null;
      const shardEnv = { ...shard.env };
      for (const key of filter?.dropEnv ?? []) delete shardEnv[key];
      all.push(...(await ran({ ...shardEnv, ...filter?.env })));
    }
    const expected = await listTests(bin, userFilter === undefined ? {} : { GTEST_FILTER: userFilter });
    expect(all.filter((c, i) => all.indexOf(c) !== i)).toEqual([]);
    expect(all.sort()).toEqual(expected.filter((c) => !c.includes("DISABLED_")).sort());
  });
});
