/**
 * storeCasesWith (src/master/cases/case-store.ts) over an in-memory
 * CaseStoreOps that counts what it is asked to read back: a case repeated
 * within one report (gtest's --gtest_repeat, a runner's reruns) has its runs
 * read from the database at most once per report, not once per batch.
 */
import { expect, test } from "bun:test";
import type { CaseRun } from "../../src/master/cases/case-merge.ts";
import { type CaseStoreOps, storeCasesWith } from "../../src/master/cases/case-store.ts";
import type { JobCaseStatus } from "../../src/master/protocol.ts";
import type { CaseRow, JobCaseRow } from "../../src/master/repo/schema-sqlite.ts";
import type { CaseResult } from "../../src/results/model.ts";

function memoryOps() {
  const cases: CaseRow[] = [];
  const jobCases = new Map<string, JobCaseRow>();
  const counts: Record<JobCaseStatus, number> = { passed: 0, failed: 0, crashed: 0, flaky: 0, skipped: 0 };
  const stats = { runsRead: 0 };
  const ops: CaseStoreOps = {
    lockJob: async () => {},
    nextSeq: async () => Math.max(-1, ...[...jobCases.values()].map((r) => r.seq)) + 1,
    insertCases: async (rows) => void cases.push(...rows),
    runsOf: async (_job, keys) => {
      const wanted = new Set(keys);
      const found: (CaseRun & { caseKey: string })[] = cases.filter((c) => wanted.has(c.caseKey));
      stats.runsRead += found.length;
      return found;
    },
    seqsOf: async (_job, keys) => new Map(keys.flatMap((k) => (jobCases.has(k) ? [[k, { seq: jobCases.get(k)!.seq, status: jobCases.get(k)!.status }] as const] : []))),
    writeJobCases: async (_job, replaced, rows) => {
      for (const k of replaced) jobCases.delete(k);
      for (const r of rows) jobCases.set(r.caseKey, r);
    },
    addCounts: async (_job, d) => {
      for (const s of Object.keys(d) as JobCaseStatus[]) counts[s] += d[s];
    },
  };
  return { ops, jobCases, counts, stats };
}

const result = (name: string, status: CaseResult["status"]): CaseResult => ({ suite: "S", name, status, durationMs: 1, message: status === "passed" ? null : name, file: null, line: null, flakyFailures: 0 });
const at = (taskId: string, attempt: number) => ({ jobId: "j", taskId, attempt, binary: "bin", reportedAt: attempt });

test("a report repeating its cases (10 names, 20 times, batches of 10) reads back no run of its own, and merges every repeat", async () => {
  const m = memoryOps();
  // Each name fails once, on its 7th repeat: flaky in the end.
  const report = Array.from({ length: 200 }, (_, i) => result(`c${i % 10}`, Math.floor(i / 10) === 6 ? "failed" : "passed"));
  await storeCasesWith(m.ops, at("t", 0), report, 10);
  expect(m.stats.runsRead).toBe(0);
  expect([...m.jobCases.values()].map((r) => [r.name, r.status, r.runs, r.failures])).toEqual(Array.from({ length: 10 }, (_, i) => [`c${i}`, "flaky", 20, 1]));
  expect(m.counts).toEqual({ passed: 0, failed: 0, crashed: 0, skipped: 0, flaky: 10 });

  // A retry of the task repeating them again: the earlier attempt's runs are read once, then kept.
  await storeCasesWith(m.ops, at("t", 1), Array.from({ length: 100 }, (_, i) => result(`c${i % 10}`, i >= 90 ? "failed" : "passed")), 10);
  expect(m.stats.runsRead).toBe(200 + 10);
  expect([...m.jobCases.values()].map((r) => [r.status, r.runs, r.failures])).toEqual(Array.from({ length: 10 }, () => ["failed", 30, 2]));
  expect(m.counts).toEqual({ passed: 0, failed: 10, crashed: 0, skipped: 0, flaky: 0 });
});
