/**
 * The Repo's quarantine storage and the report-time verdict over it, part
 * of the Repo conformance suite (repo.conformance.ts calls it inside each
 * implementation's describe).
 */
import { expect, test } from "bun:test";
import { caseKey } from "../../src/master/cases/case-key.ts";
import type { CaseAttempt } from "../../src/master/cases/case-store.ts";
import { applyQuarantine } from "../../src/master/quarantine/verdict.ts";
import type { Repo } from "../../src/master/repo/repo.ts";
import type { CaseResult } from "../../src/results/model.ts";

const T0 = 1_700_000_000_000;
const HOUR = 3_600_000;

const run = (suite: string, name: string, status: CaseResult["status"]): CaseResult => ({ suite, name, status, durationMs: 3, message: status === "passed" ? null : `${name} ${status}`, file: null, line: null });
/** The run of case S.`name` of binary "bin" in attempt `at`, as jobQuarantines asks for it. */
const runOf = (at: Pick<CaseAttempt, "taskId" | "attempt">, name: string) => ({ caseKey: caseKey("bin", "S", name), taskId: at.taskId, attempt: at.attempt });
const entry = (over: Partial<Parameters<Repo["addQuarantine"]>[0]> = {}) => ({ binary: null, suite: "S", name: "flaky", reason: "known flaky", createdAt: T0, createdBy: "alice", until: null, ...over });

/** Adds the quarantine tests; `repo` gives the repo that beforeEach opened; `seedJob` makes a job with one task and its attempt 0, returning the task id. */
export function repoQuarantineConformance(repo: () => Repo, seedJob: (id: string) => Promise<string>): void {
  test("quarantine entries: add returns the stored row with an id; list filters by activity (removed, expired) and is newest first; a removal keeps the row and the first removal's time", async () => {
    const r = repo();
    const hostile = `<script>alert(1)</script> ' " \\ ${"é".repeat(3)}`;
    const a = await r.addQuarantine(entry({ reason: hostile }));
    const b = await r.addQuarantine(entry({ binary: "bin", name: "other", until: T0 + HOUR }));
    expect(a).toEqual({ id: a.id, ...entry({ reason: hostile }), removedAt: null, removedBy: null });
    expect(b.id).toBeGreaterThan(a.id);
    expect((await r.listQuarantine({ activeAt: T0 + 1, limit: 10 })).map((e) => e.id)).toEqual([b.id, a.id]);
    // Past its until, b is inactive by itself; still listed among all.
    expect((await r.listQuarantine({ activeAt: T0 + HOUR, limit: 10 })).map((e) => e.id)).toEqual([a.id]);
    expect((await r.listQuarantine({ limit: 10 })).map((e) => e.id)).toEqual([b.id, a.id]);
    expect((await r.listQuarantine({ limit: 1 })).map((e) => e.id)).toEqual([b.id]);

    const removed = await r.removeQuarantine(a.id, T0 + 10, "bob");
    expect(removed).toMatchObject({ id: a.id, removedAt: T0 + 10, removedBy: "bob", reason: hostile });
    expect(await r.removeQuarantine(a.id, T0 + 20, "carol")).toMatchObject({ removedAt: T0 + 10, removedBy: "bob" });
    expect(await r.removeQuarantine(999_999, T0, "bob")).toBeNull();
    // Active before its removal, not at or after it: a past report's time still finds it.
    expect((await r.listQuarantine({ activeAt: T0 + 5, limit: 10 })).map((e) => e.id)).toEqual([b.id, a.id]);
    expect(await r.listQuarantine({ activeAt: T0 + 10, limit: 10 })).toEqual([expect.objectContaining({ id: b.id })]);
  });

  test("applyQuarantine: an attempt failed only by quarantined cases is marked quarantined and its runs recorded; one with any other failure is not, but its quarantined runs are; a pass or a removed entry marks nothing", async () => {
    const r = repo();
    const e = await r.addQuarantine(entry());
    const binOnly = await r.addQuarantine(entry({ binary: "bin", name: "binonly" }));
    await r.addQuarantine(entry({ binary: "elsewhere", name: "wrongbin" }));
    const task = await seedJob("q.alice.1700000000.1");
    const at: CaseAttempt = { jobId: "q.alice.1700000000.1", taskId: task, attempt: 0, binary: "bin", reportedAt: T0 + 1 };
    const cases = [run("S", "ok", "passed"), run("S", "flaky", "failed"), run("S", "binonly", "crashed")];
    await r.storeCases(at, cases);
    // A quarantined crash: quarantined, and said to have crashed (a retry is still wanted for the cases after it).
    expect(await r.transaction((tx) => applyQuarantine(tx, at, "FAILED", cases))).toEqual({ quarantined: true, crashed: true });
    expect((await r.getAttempt(at.jobId, task, 0))?.quarantined).toBe(true);
    const marks = await r.jobQuarantines(at.jobId, [runOf(at, "flaky"), runOf(at, "binonly"), runOf(at, "ok")]);
    expect([...marks.entries()].map(([k, v]) => [k, v.id]).sort()).toEqual([[caseKey("bin", "S", "flaky"), e.id], [caseKey("bin", "S", "binonly"), binOnly.id]].sort());

    // Another job: one failure the entries do not cover (wrong binary) keeps the attempt failed; the covered one is still marked.
    const task2 = await seedJob("q.alice.1700000000.2");
    const at2: CaseAttempt = { ...at, jobId: "q.alice.1700000000.2", taskId: task2 };
    const cases2 = [run("S", "flaky", "failed"), run("S", "wrongbin", "failed")];
    expect(await applyQuarantine(r, at2, "FAILED", cases2)).toEqual({ quarantined: false, crashed: false });
    expect((await r.getAttempt(at2.jobId, task2, 0))?.quarantined).toBe(false);
    expect([...(await r.jobQuarantines(at2.jobId, [runOf(at2, "flaky"), runOf(at2, "wrongbin")])).keys()]).toEqual([caseKey("bin", "S", "flaky")]);

    // No failing case (a crash before any case): never quarantined. Nor after the entry is removed.
    const task3 = await seedJob("q.alice.1700000000.3");
    expect(await applyQuarantine(r, { ...at, jobId: "q.alice.1700000000.3", taskId: task3 }, "FAILED", [run("S", "ok", "passed")])).toEqual({ quarantined: false, crashed: false });
    await r.removeQuarantine(e.id, T0 + 2, "bob");
    expect(await applyQuarantine(r, { ...at, jobId: "q.alice.1700000000.3", taskId: task3, reportedAt: T0 + 3 }, "FAILED", [run("S", "flaky", "failed")])).toEqual({ quarantined: false, crashed: false });
    expect((await r.getAttempt("q.alice.1700000000.3", task3, 0))?.quarantined).toBe(false);
    // The first job's verdict and marks are as they were.
    expect((await r.getAttempt(at.jobId, task, 0))?.quarantined).toBe(true);
    expect((await r.jobQuarantines(at.jobId, [runOf(at, "flaky")])).get(caseKey("bin", "S", "flaky"))?.id).toBe(e.id);
    // Another attempt's run of the same case is not the quarantined one: its failure came after (or without) the entry.
    expect(await r.jobQuarantines(at.jobId, [runOf({ ...at, attempt: 1 }, "flaky"), runOf({ ...at, taskId: `${task}-other` }, "flaky")])).toEqual(new Map());
    expect(await r.jobQuarantines(at.jobId, [])).toEqual(new Map());
  });
}
