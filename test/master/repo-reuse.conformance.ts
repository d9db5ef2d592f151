/**
 * The Repo's reuse storage (docs/reuse.md): results kept by task key, the
 * newest young enough found per key, and a reusing job's rows for the
 * original's cases. Part of the Repo conformance suite (repo.conformance.ts
 * calls it inside each implementation's describe).
 */
import { expect, test } from "bun:test";
import type { Repo } from "../../src/master/repo/repo.ts";
import type { CaseResult } from "../../src/results/model.ts";
import { makeJobWithTasks } from "./repo.conformance.ts";

const T0 = 1_700_000_000_000;
const key = (c: string) => c.repeat(64);
const pass = (name: string, status: CaseResult["status"] = "passed"): CaseResult => ({ suite: "S", name, status, durationMs: 5, message: status === "skipped" ? "not here" : null, file: null, line: null });

/** A job of `n` tasks whose attempts 0 SUCCEEDED at `at`, each recorded reusable under key(letters[i]). */
async function seedRan(r: Repo, id: string, letters: string[], at: number): Promise<string[]> {
  const { job, tasks, attempts } = makeJobWithTasks(id, letters.length, { createdAt: at });
  await r.createJob(job, tasks, attempts.map((a) => ({ ...a, state: "SUCCEEDED", exitCode: 0, reportedAt: at, stdoutKey: `logs/${id}/${a.taskId}/stdout` })));
  for (const [i, t] of tasks.entries()) await r.recordReusable({ taskKey: key(letters[i]!), jobId: id, taskId: t.taskId, attempt: 0, reportedAt: at, savedMs: 1_000 * (i + 1) });
  return tasks.map((t) => t.taskId);
}

export function repoReuseConformance(repo: () => Repo): void {
  test("findReusable: the newest result at or after since per key, with its attempt; an older or unknown key finds nothing; recording a task twice keeps one row", async () => {
    const r = repo();
    const old = await seedRan(r, "reuse.old", ["a", "b"], T0);
    const fresh = await seedRan(r, "reuse.new", ["a"], T0 + 10);
    const found = await r.findReusable([key("a"), key("b"), key("c"), key("a")], T0 + 1);
    expect([...found.keys()]).toEqual([key("a")]);
    expect(found.get(key("a"))).toMatchObject({ savedMs: 1_000, origin: { jobId: "reuse.new", taskId: fresh[0], attempt: 0, state: "SUCCEEDED", stdoutKey: `logs/reuse.new/${fresh[0]}/stdout` } });
    const all = await r.findReusable([key("a"), key("b")], 0);
    expect(all.get(key("b"))?.origin).toMatchObject({ jobId: "reuse.old", taskId: old[1] });
    await r.recordReusable({ taskKey: key("b"), jobId: "reuse.old", taskId: old[1]!, attempt: 0, reportedAt: T0 + 20, savedMs: 7 });
    expect((await r.findReusable([key("b")], T0 + 15)).get(key("b"))?.savedMs).toBe(7);
    // 2,500 keys: more than one statement's worth, in batches.
    const many = Array.from({ length: 2_500 }, (_, i) => i.toString(16).padStart(64, "0"));
    expect((await r.findReusable([...many, key("a")], 0)).size).toBe(1);
  });

  test("forgetReusable drops every result of its key, and only of its key", async () => {
    const r = repo();
    await seedRan(r, "forget.1", ["g", "h"], T0);
    await seedRan(r, "forget.2", ["g"], T0 + 1);
    await r.forgetReusable(key("g"));
    expect([...(await r.findReusable([key("g"), key("h")], 0)).keys()]).toEqual([key("h")]);
  });

  test("findReusable skips a recorded attempt that is not SUCCEEDED (a row left by a result rewritten since)", async () => {
    const r = repo();
    const [task] = await seedRan(r, "reuse.gone", ["d"], T0);
    await r.updateAttempt("reuse.gone", task!, 0, { state: "FAILED" });
    expect((await r.findReusable([key("d")], 0)).size).toBe(0);
  });

  test("linkReusedCases: the job gets one row per origin case, pointing at the original run, counted; history gains no run; a case the job has already keeps its row", async () => {
    const r = repo();
    const [origin] = await seedRan(r, "link.origin", ["e"], T0);
    await r.storeCases({ jobId: "link.origin", taskId: origin!, attempt: 0, binary: "bin", reportedAt: T0 }, [pass("one"), pass("two"), pass("three", "skipped")]);
    const { job, tasks, attempts } = makeJobWithTasks("link.user", 2, { createdAt: T0 + 5 });
    await r.createJob(job, tasks, attempts);
    // Task 1 ran "one" itself first: it keeps its own row.
    await r.storeCases({ jobId: "link.user", taskId: tasks[1]!.taskId, attempt: 0, binary: "bin", reportedAt: T0 + 6 }, [{ ...pass("one"), status: "failed", message: "own" }]);
    await r.transaction((tx) => tx.linkReusedCases("link.user", [{ taskId: tasks[0]!.taskId, attempt: 0, binary: "bin", origin: { jobId: "link.origin", taskId: origin!, attempt: 0 } }]));
    const rows = await r.listJobCases("link.user", { limit: 10 });
    expect(rows.map((c) => [c.name, c.status, c.taskId, c.reusedFrom])).toEqual([
      ["one", "failed", tasks[1]!.taskId, null],
      ["two", "passed", tasks[0]!.taskId, { jobId: "link.origin", taskId: origin, attempt: 0 }],
      ["three", "skipped", tasks[0]!.taskId, { jobId: "link.origin", taskId: origin, attempt: 0 }],
    ]);
    expect(new Set(rows.map((c) => c.seq)).size).toBe(3);
    expect(await r.jobCaseCounts("link.user")).toEqual({ total: 3, passed: 1, failed: 1, flaky: 0, skipped: 1 });
    // The original's counts and the case's history are the original's alone.
    expect(await r.jobCaseCounts("link.origin")).toEqual({ total: 3, passed: 2, failed: 0, flaky: 0, skipped: 1 });
    const history = await r.caseHistory(rows[1]!.caseKey, 10);
    expect(history.map((h) => h.jobId)).toEqual(["link.origin"]);
    // Paged after the last seq, as the cases API reads it.
    expect((await r.listJobCases("link.user", { afterSeq: rows[1]!.seq, limit: 10 })).map((c) => c.name)).toEqual(["three"]);
  });

  test("linkReusedCases over many links (more than one statement) keeps every case once, in the links' order", async () => {
    const r = repo();

    const { job, tasks, attempts } = makeJobWithTasks("link.big.origin", 620, { createdAt: T0 });
    await r.createJob(job, tasks, attempts.map((a) => ({ ...a, state: "SUCCEEDED" })));
    for (const t of tasks) await r.storeCases({ jobId: job.id, taskId: t.taskId, attempt: 0, binary: `bin${t.index}`, reportedAt: T0 }, [pass(`c${t.index}`)]);
    const user = makeJobWithTasks("link.big.user", 620, { createdAt: T0 + 1 });
    await r.createJob(user.job, user.tasks, user.attempts);
    await r.linkReusedCases(user.job.id, user.tasks.map((t, i) => ({ taskId: t.taskId, attempt: 0, binary: `bin${t.index}`, origin: { jobId: job.id, taskId: tasks[i]!.taskId, attempt: 0 } })));
    const rows = await r.listJobCases(user.job.id, { limit: 1_000 });
    expect(rows.map((c) => c.name)).toEqual(tasks.map((t) => `c${t.index}`));
    expect((await r.jobCaseCounts(user.job.id)).passed).toBe(620);
  });

  test("linkReusedCases counts only the rows it inserted: not a case linked twice in one call, not one the job had, not the job's other rows", async () => {
    const r = repo();
    const [origin] = await seedRan(r, "link.twice.origin", ["f"], T0);
    await r.storeCases({ jobId: "link.twice.origin", taskId: origin!, attempt: 0, binary: "bin", reportedAt: T0 }, [pass("one"), pass("two"), pass("gone", "skipped")]);
    const { job, tasks, attempts } = makeJobWithTasks("link.twice.user", 4, { createdAt: T0 + 5 });
    await r.createJob(job, tasks, attempts);
    // Rows of its own first (another binary), and one of the origin's cases run by its task 3.
    await r.storeCases({ jobId: job.id, taskId: tasks[2]!.taskId, attempt: 0, binary: "other", reportedAt: T0 + 6 }, [pass("x"), { ...pass("y"), status: "failed" }]);
    await r.storeCases({ jobId: job.id, taskId: tasks[3]!.taskId, attempt: 0, binary: "bin", reportedAt: T0 + 6 }, [{ ...pass("two"), status: "failed" }]);
    const link = (i: number) => ({ taskId: tasks[i]!.taskId, attempt: 0, binary: "bin", origin: { jobId: "link.twice.origin", taskId: origin!, attempt: 0 } });
    await r.transaction((tx) => tx.linkReusedCases(job.id, [link(0), link(1)]));
    await r.transaction((tx) => tx.linkReusedCases(job.id, [link(1)]));
    const rows = await r.listJobCases(job.id, { limit: 10 });
    expect(rows.length).toBe(5);
    expect(await r.jobCaseCounts(job.id)).toEqual({ total: 5, passed: 2, failed: 2, flaky: 0, skipped: 1 });
  });
}
