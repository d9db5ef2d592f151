/**
 * The client's side of reuse (docs/reuse.md): what `dt submit --reuse` /
 * `--no-reuse` send (and that both at once are refused), a task's
 * `idempotent` passed on from the tasks file, `dt loop` never reusing, and
 * how the progress, the final report and `dt status` say what was reused
 * and saved, while a job without reuse reads as before.
 */
import { expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "citty";
import local from "../../src/commands/local.ts";
import loop from "../../src/commands/loop.ts";
import { checkCommandArgv } from "../../src/commands/argv.ts";
import { reuseOf } from "../../src/commands/reuse-args.ts";
import status from "../../src/commands/status.ts";
import submit from "../../src/commands/submit.ts";
import { plainLine, ttyLine } from "../../src/client/progress.ts";
import { reuseReport } from "../../src/client/summary.ts";
import { summaryOf } from "./fake-master.ts";
import { useClientWorld } from "./harness.ts";

const world = useClientWorld();
const HASH = "d".repeat(64);
const JOB = "alice.1700000000.4242";

function writeTasks(dir: string, tasks: unknown[], extra: Record<string, unknown> = {}): string {
  const path = join(dir, "tasks.json");
  writeFileSync(path, JSON.stringify({ tasks, ...extra }));
  return path;
}

test("submit --reuse sends reuse: true, --no-reuse reuse: false, and neither sends no reuse key at all", async () => {
  const w = await world();
  const tasks = writeTasks(w.dir, [{ isolate_hash: HASH, description: "t" }]);
  for (const flags of [["--reuse"], ["--no-reuse"], []]) expect((await w.run(submit, [...flags, "--no-wait", tasks])).code).toBe(0);
  expect(w.master.submitted.map((req) => req.reuse)).toEqual([true, false, undefined]);
  // Absent, not null: a master from before reuse refuses a key it does not know.
  expect("reuse" in w.master.submitted[2]!).toBe(false);
});

test("submit --reuse --no-reuse is a usage error naming both, and nothing is submitted; the same flag twice is not", async () => {
  const w = await world();
  const tasks = writeTasks(w.dir, [{ isolate_hash: HASH, description: "t" }]);
  for (const flags of [["--reuse", "--no-reuse"], ["--no-reuse", "--reuse=true"], ["--reuse=false", "--reuse"]]) {
    const r = await w.run(submit, [...flags, "--no-wait", tasks]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("dt submit: --reuse and --no-reuse contradict each other; give one");
  }
  expect(w.master.submitted).toEqual([]);
  expect((await w.run(submit, ["--reuse", "--reuse", "--no-wait", tasks])).code).toBe(0);
  expect(w.master.submitted[0]!.reuse).toBe(true);
});

test("the command line as dt checks it keeps both flags for the conflict to be seen; a file named --reuse after -- is no flag", async () => {
  const line = await checkCommandArgv(submit, ["--reuse", "t.json", "--no-reuse"], {}, "dt submit");
  expect(line).toEqual(["--reuse", "--no-reuse", "t.json"]);
  expect(() => reuseOf(line, "dt submit")).toThrow("dt submit: --reuse and --no-reuse contradict each other");
  const afterDashDash = await checkCommandArgv(submit, ["--no-reuse", "--", "--reuse"], {}, "dt submit");
  expect(reuseOf(afterDashDash, "dt submit")).toBe(false);
  expect(parseArgs(afterDashDash, submit.args as never)).toMatchObject({ reuse: false, tasks: "--reuse" });
  expect(reuseOf(await checkCommandArgv(submit, ["t.json"], {}, "dt submit"), "dt submit")).toBeUndefined();
  // dt local takes them too: with --data-dir its master keeps results from one run to the next.
  expect(await checkCommandArgv(local, ["--reuse", "t.json"], {}, "dt local")).toEqual(["--reuse", "t.json"]);
});

test("dt local refuses --reuse --no-reuse before it starts anything", async () => {
  const w = await world();
  const r = await w.run(local, ["--reuse", "--no-reuse", join(w.dir, "missing.json")]);
  expect(r.code).toBe(2);
  expect(r.stderr).toContain("dt local: --reuse and --no-reuse contradict each other");
});

test("a task's idempotent goes from the tasks file into the request; a wrong one, or reuse beside the tasks, is refused naming it", async () => {
  const w = await world();
  const ok = writeTasks(w.dir, [{ isolate_hash: HASH, description: "a", idempotent: true }, { isolate_hash: HASH, description: "b", idempotent: false }, { isolate_hash: HASH, description: "c" }]);
  expect((await w.run(submit, ["--no-wait", ok])).code).toBe(0);
  expect(w.master.submitted[0]!.tasks.map((t) => t.idempotent)).toEqual([true, false, undefined]);

  const wrong = await w.run(submit, ["--no-wait", writeTasks(w.dir, [{ isolate_hash: HASH, description: "a", idempotent: "yes" }])]);
  expect(wrong.code).toBe(2);
  expect(wrong.stderr).toContain('tasks.json: tasks[0].idempotent: must be true (the task\'s result may be reused by a later identical task) or false, got "yes"');
  const beside = await w.run(submit, ["--no-wait", writeTasks(w.dir, [{ isolate_hash: HASH, description: "a" }], { reuse: true })]);
  expect(beside.code).toBe(2);
  expect(beside.stderr).toContain('"reuse" is not read from a tasks file');
  expect(beside.stderr).toContain("give a job's reuse with --reuse or --no-reuse");
  expect(w.master.submitted).toHaveLength(1);
});

test("dt loop runs every copy: an idempotent task is sent without idempotent, and the job without reuse", async () => {
  const w = await world();
  const file = join(w.dir, "one.json");
  writeFileSync(file, JSON.stringify({ tasks: [{ isolate_hash: HASH, description: "wobbly", idempotent: true }] }));
  expect((await w.run(loop, ["-n", "3", "--no-wait", file])).code).toBe(0);
  const [req] = w.master.submitted;
  expect(req!.tasks).toEqual([0, 1, 2].map((i) => ({ isolate_hash: HASH, description: `wobbly.${i}` })));
  expect("reuse" in req!).toBe(false);
});

test("a watched job that reused tasks ends with how many were reused, from runs in flight, ran, and the time saved", async () => {
  const w = await world();
  w.master.onSubmit = (req) => ({
    frames: [
      summaryOf(req.job_id!, { total_tasks: 2000, finished: 1820, succeeded: 1820, reused: 1820, coalesced: 12, running: 150, queued: 30, waiting: 20, saved_ms: 0 }),
      summaryOf(req.job_id!, { total_tasks: 2000, finished: 2000, succeeded: 2000, reused: 1820, coalesced: 12, saved_ms: 5 * 3_600_000 + 12 * 60_000 }),
    ],
    tasks: [],
  });
  const r = await w.run(submit, ["--reuse", writeTasks(w.dir, [{ isolate_hash: HASH, description: "t" }])]);
  expect(r.code).toBe(0);
  expect(r.stdout).toBe(
    [
      " 0.0s\t 1820/2000 tests complete (1820 reused) (150 running, 30 queued, 20 of them waiting for identical tasks in other jobs)",
      " 1.0s\t 2000/2000 tests complete (1820 reused)",
      "2,000 tasks: 1,820 reused (12 from runs in flight), 180 ran; reuse saved 5h12m of runs",
      "",
    ].join("\n"),
  );
});

test("the reuse line: singular, without in-flight or saved time when there is none, canceled tasks apart; none for a job that reused nothing", () => {
  expect(reuseReport(summaryOf(JOB, { total_tasks: 1, finished: 1, succeeded: 1, reused: 1 }))).toEqual(["1 task: 1 reused, 0 ran"]);
  expect(reuseReport(summaryOf(JOB, { total_tasks: 10, finished: 10, succeeded: 5, canceled: 3, failed: 2, reused: 4, saved_ms: 42_000 }))).toEqual([
    "10 tasks: 4 reused, 3 ran, 3 canceled; reuse saved 42s of runs",
  ]);
  // A job without reuse, and a master from before it (no reuse counts at all).
  expect(reuseReport(summaryOf(JOB, { total_tasks: 3, finished: 3, succeeded: 3, reused: 0, coalesced: 0, waiting: 0, saved_ms: 0 }))).toEqual([]);
  expect(reuseReport(summaryOf(JOB, { total_tasks: 3, finished: 3, succeeded: 3 }))).toEqual([]);
});

test("progress lines say nothing of reuse for a job without it, byte for byte as before, zero counts included", () => {
  const counts = { total_tasks: 5, finished: 3, succeeded: 2, failed: 1, running: 1, queued: 1, retries: 1 };
  const before = summaryOf(JOB, counts);
  const zeros = summaryOf(JOB, { ...counts, reused: 0, coalesced: 0, waiting: 0, saved_ms: 0 });
  expect(plainLine(zeros.counts, 10_000)).toBe(plainLine(before.counts, 10_000));
  expect(plainLine(zeros.counts, 10_000)).toBe(" 10.0s\t 3/5 tests complete (1 failed) (1 retries) (1 running, 1 queued)");
  expect(ttyLine(zeros, 10_000, false)).toBe(ttyLine(before, 10_000, false));
  const reusing = summaryOf(JOB, { ...counts, reused: 2, waiting: 1 });
  expect(ttyLine(reusing, 10_000, false)).toBe("3/5 done, 1 failed, 1 retried, 2 reused, 1 running, 1 queued (1 waiting for other jobs), 10s");
});

test("dt status adds a reuse line only for a job that reused or waits", async () => {
  const w = await world();
  w.master.addJob(JOB, { frames: [summaryOf(JOB, { total_tasks: 6, finished: 4, succeeded: 4, reused: 3, coalesced: 1, queued: 2, waiting: 2, saved_ms: 90_000 })], tasks: [] });
  const r = await w.run(status, [JOB]);
  expect(r.stdout).toContain("  0 running, 2 queued, 0 retries\n  3 reused (1 from runs in flight), saving 1m30s of runs; 2 of the queued waiting for identical tasks in other jobs\n");
  const plain = "plain.alice.1700000000.1";
  w.master.addJob(plain, { frames: [summaryOf(plain, { total_tasks: 1, finished: 1, succeeded: 1, reused: 0, waiting: 0 })], tasks: [] });
  expect((await w.run(status, [plain])).stdout).not.toContain("reused");
});
