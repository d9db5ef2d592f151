import { afterEach, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Task } from "../../src/master/model.ts";
import { newAttempt } from "../../src/master/scheduler/dispatcher.ts";
import { ChangeTracker } from "../../src/master/repo/change-tracking.ts";
import { SqliteRepo } from "../../src/master/repo/sqlite.ts";

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

test("a write inside a transaction changes the job's version again once it commits", async () => {
  const dir = mkdtempSync(join(tmpdir(), "dt-changes-"));
  dirs.push(dir);
  const tracker = new ChangeTracker();
  const repo = tracker.wrap(await SqliteRepo.open(join(dir, "dt.sqlite")));
  const job = { id: "j", user: "u", name: null, priority: 0, createdAt: 1, canceledAt: null };
  const task: Task = { jobId: "j", taskId: "t", index: 0, isolateHash: "a".repeat(64), description: "t", timeoutSec: 0, maxRetries: 0, artifactGlobs: [], resultGlobs: null, env: {}, dimensions: {}, priority: 0, shardIndex: null, shardCount: null, caseFilter: null, caseSelection: null, retryMode: "cases", idempotent: false, taskKey: null };
  await repo.createJob(job, [task], [newAttempt("j", "t", 0, 0, 1)]);
  let seenInside = -1;
  await repo.transaction(async (tx) => {
    await tx.updateAttempt("j", "t", 0, { state: "SUCCEEDED" }, ["QUEUED"]);
    // What a summary read on another connection before the commit would be cached under.
    seenInside = tracker.version("j");
  });
  expect(tracker.version("j")).toBeGreaterThan(seenInside);
  await repo.close();
});

test("versions are kept for the most recently changed jobs only, and a forgotten job's version never repeats one it had", () => {
  const tracker = new ChangeTracker(2);
  const seen = new Map<string, number[]>();
  const note = (job: string) => seen.set(job, [...(seen.get(job) ?? []), tracker.version(job)]);
  note("a");
  tracker.bump("a");
  note("a");
  tracker.bump("b");
  tracker.bump("c");
  // "a" forgotten: a long-running master keeps no entry per job it ever saw.
  expect(tracker.size).toBe(2);
  note("a");
  tracker.bump("a");
  note("a");
  for (let i = 0; i < 5; i++) tracker.bump(`x${i}`);
  note("a");
  const versions = seen.get("a")!;
  // Each differs from every earlier one (a summary cached under an old version is never served as current) and only grows.
  expect(new Set(versions).size).toBe(versions.length);
  expect(versions).toEqual([...versions].sort((x, y) => x - y));
  expect(tracker.size).toBe(2);
});
