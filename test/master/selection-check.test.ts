import { expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SqliteRepo } from "../../src/master/repo/sqlite.ts";
import { fitCases } from "../../src/slave/case-report.ts";
import { FLAG_NAMES_SHOWN, MAX_FLAGS_PER_JOB, MAX_FLAG_TEXT, type ReportedAttempt, checkCaseSelection, selectionFlag } from "../../src/master/cases/selection-check.ts";

const c = (suite: string, name: string) => ({ suite, name });
const ran = (names: string[], over: Partial<ReportedAttempt> = {}, status: "passed" | "crashed" = "passed"): ReportedAttempt => ({
  jobId: "j", taskId: "h.2", attempt: 0, state: "SUCCEEDED", at: 5, notes: [], cases: names.map((n) => ({ suite: "S", name: n, status })), ...over,
});

test("an include shard that ran exactly its cases (each once, repeats aside) has no flag", () => {
  expect(selectionFlag({ include: [c("S", "a"), c("S", "b")] }, ran(["a", "b", "b"]))).toBeNull();
});

test("an include shard that ran a case outside its list, and missed one of it, is flagged once with both", () => {
  const flag = selectionFlag({ include: [c("S", "a"), c("S", "b")] }, ran(["a", "z"]));
  expect(flag).toEqual({
    jobId: "j", taskId: "h.2", attempt: 0, kind: "case_selection", createdAt: 5,
    text: "attempt 0 of h.2 ran 1 case outside its filter: S.z; did not report 1 case of its filter: S.b",
  });
});

test("the exclusion shard: a case it excludes that it ran is flagged; new cases are not", () => {
  expect(selectionFlag({ exclude: [c("S", "a")] }, ran(["b", "new"]))).toBeNull();
  expect(selectionFlag({ exclude: [c("S", "a")] }, ran(["a", "b"]))?.text).toBe("attempt 0 of h.2 ran 1 case outside its filter: S.a");
});

test("missing cases are not looked for when the run was cut short: a crash, a timeout, a failure before any case", () => {
  const include = { include: [c("S", "a"), c("S", "b")] };
  expect(selectionFlag(include, ran(["a"], { state: "FAILED" }, "crashed"))).toBeNull();
  expect(selectionFlag(include, ran([], { state: "FAILED" }))).toBeNull();
  expect(selectionFlag(include, ran(["a"], { state: "TIMED_OUT" }))).toBeNull();
  // A failed run that reported its cases ran to its end.
  expect(selectionFlag(include, ran(["a"], { state: "FAILED" }))?.text).toContain("did not report 1 case");
  // The slave cut the report: what is missing may have run.
  const cut = fitCases([{ suite: "S", name: "a", status: "passed", duration_ms: 1, message: null, file: null, line: null }, { suite: "S", name: "b", status: "passed", duration_ms: 1, message: null, file: null, line: null }], 1);
  expect(selectionFlag(include, ran(["a"], { notes: [cut.note!] }))).toBeNull();
  // A success that reported nothing ran none of its cases.
  expect(selectionFlag(include, ran([]))?.text).toContain("did not report 2 cases");
});

test("a flag names the first FLAG_NAMES_SHOWN cases and counts the rest, within MAX_FLAG_TEXT", () => {
  const names = Array.from({ length: 5_000 }, (_, i) => `case_${i}_${"x".repeat(200)}`);
  const flag = selectionFlag({ include: [c("S", "only")] }, ran(["only", ...names]))!;
  expect(flag.text).toContain(`ran 5000 cases outside its filter`);
  expect(flag.text).toContain(`and ${5_000 - FLAG_NAMES_SHOWN} more`);
  expect(flag.text.length).toBeLessThanOrEqual(MAX_FLAG_TEXT);
});

test("a job whose every shard strays stores at most MAX_FLAGS_PER_JOB flags, the last saying that later ones are not kept", async () => {
  const dir = mkdtempSync(join(tmpdir(), "dt-selection-check-"));
  const repo = await SqliteRepo.open(join(dir, "dt.sqlite"));
  try {
    const shards = MAX_FLAGS_PER_JOB + 50;
    for (let i = 0; i < shards; i++) {
      await checkCaseSelection(repo, { include: [c("S", `own${i}`)] }, ran(["stray"], { taskId: `h.${i}` }));
    }
    // Another job still gets its own.
    await checkCaseSelection(repo, { include: [c("S", "a")] }, ran(["stray"], { jobId: "other" }));
    const flags = await repo.listJobFlags("j", shards * 2);
    expect(flags.length).toBe(MAX_FLAGS_PER_JOB);
    expect(flags.at(-1)!.text).toContain("later flags of this job are not recorded");
    expect(flags.at(-2)!.text).not.toContain("not recorded");
    expect((await repo.listJobFlags("other", 10)).length).toBe(1);
  } finally {
    await repo.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
