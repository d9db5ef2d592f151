/**
 * `bun bench/flaky-query.ts [--jobs N] [--cases N] [--flaky N] [--days N] [--window-days N] [--db PATH]`
 *
 * `--db PATH` keeps the database; run again with it, the seeding is skipped
 * (the jobs are there already, created relative to the first run's clock).
 *
 * What `dt flaky` (Repo.flakyCases) costs on a large history in SQLite,
 * against the obvious query in the same run: one GROUP BY over every merged
 * row (job_cases) of the window's jobs. Seeds through Repo.storeCases, the
 * master's own storage path: `--jobs` jobs (default 1,000) of one task
 * running `--cases` cases each (default 1,000, so 1,000,000 `cases` rows),
 * created evenly over `--days` (30) up to now; `--flaky` of the cases
 * (default 20) fail in a tenth of the jobs (a fixed seed) and pass on the
 * task's retry. Then times flakyCases over the last `--window-days` (7) and
 * over the whole history, 5 times each (the median), prints SQLite's plan
 * for each of its statements, and the ratio to the obvious query.
 * `--flaky 1000` makes every case flaky somewhere: the case where
 * flakyCases reads every row instead of looking the flaky ones up.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Database } from "bun:sqlite";
import { SqliteRepo } from "../src/master/repo/sqlite.ts";
import type { CaseResult } from "../src/results/model.ts";

const DAY = 86_400_000;

function option(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  if (i < 0) return fallback;
  const n = Number(process.argv[i + 1]);
  if (!Number.isSafeInteger(n) || n < 1) {
    console.error(`flaky-query: --${name} must be a positive integer`);
    process.exit(2);
  }
  return n;
}

const jobs = option("jobs", 1_000);
const casesPerJob = option("cases", 1_000);
const flakyCases = option("flaky", 20);
const days = option("days", 30);
const windowDays = option("window-days", 7);
const dbArg = process.argv.indexOf("--db");
const dir = dbArg >= 0 ? null : mkdtempSync(join(tmpdir(), "dt-flaky-bench-"));
const path = dir === null ? process.argv[dbArg + 1]! : join(dir, "dt.db");

/** mulberry32: the same history on every run. */
function random(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function timed<T>(body: () => Promise<T> | T, runs = 5): Promise<{ ms: number; result: T }> {
  const times: number[] = [];
  let result!: T;
  for (let i = 0; i < runs; i++) {
    const start = performance.now();
    result = await body();
    times.push(performance.now() - start);
  }
  return { ms: median(times), result };
}

const repo = await SqliteRepo.open(path);
const existing = await repo.listJobs({ limit: 1 });
const now = existing.length > 0 ? existing[0]!.createdAt + Math.floor((days * DAY) / jobs) : Date.now();
const rand = random(14);
const seedStart = performance.now();
let rows = 0;
for (let j = 0; j < jobs && existing.length === 0; j++) {
  const jobId = `bench.${j}`;
  const createdAt = now - days * DAY + Math.floor((j * days * DAY) / jobs);
  const taskId = `${"b".repeat(64)}.0`;
  await repo.createJob({ id: jobId, user: "bench", name: null, priority: 0, createdAt, canceledAt: null }, [
    { jobId, taskId, index: 0, isolateHash: "b".repeat(64), description: "big_test", timeoutSec: 0, maxRetries: 1, artifactGlobs: [], resultGlobs: null, env: {}, dimensions: {}, priority: 0, shardIndex: null, shardCount: null, caseFilter: null, caseSelection: null, retryMode: "cases", idempotent: false, taskKey: null },
  ], []);
  const failing = new Set<number>();
  for (let c = 0; c < flakyCases; c++) if (rand() < 0.1) failing.add(c);
  const first: CaseResult[] = Array.from({ length: casesPerJob }, (_, c) => ({
    suite: `Suite${Math.floor(c / 50)}`, name: `Case${c}`, status: failing.has(c) ? "failed" : "passed", durationMs: 5, message: failing.has(c) ? "Expected: 1\n  Actual: 0" : null, file: null, line: null,
  }));
  await repo.storeCases({ jobId, taskId, attempt: 0, binary: "big_test", reportedAt: createdAt + 60_000 }, first);
  rows += first.length;
  if (failing.size > 0) {
    const retry = first.filter((_, c) => failing.has(c)).map((r) => ({ ...r, status: "passed" as const, message: null }));
    await repo.storeCases({ jobId, taskId, attempt: 1, binary: "big_test", reportedAt: createdAt + 120_000 }, retry);
    rows += retry.length;
  }
}
const seedSec = (performance.now() - seedStart) / 1000;
if (existing.length > 0) console.log(`reusing ${path}`);
else console.log(`seeded ${rows.toLocaleString("en")} cases rows (${jobs} jobs × ${casesPerJob} cases, ${flakyCases} of them flaky) in ${seedSec.toFixed(1)} s: ${path}`);

const db = new Database(path, { readonly: true });
/** The obvious query: every merged row of the window's jobs, grouped by case. */
const obvious = db.query(`
  SELECT jc.case_key, count(*) AS jobs, sum(jc.status = 'flaky') AS flaky, sum(jc.runs) AS runs, sum(jc.failures) AS failures
  FROM jobs j JOIN job_cases jc ON jc.job_id = j.id
  WHERE j.created_at >= ? AND jc.status <> 'skipped'
  GROUP BY jc.case_key HAVING flaky > 0
  ORDER BY 1.0 * flaky / jobs DESC, flaky DESC LIMIT 50`);

for (const [label, since] of [[`last ${windowDays} days`, now - windowDays * DAY], ["whole history", 0]] as const) {
  const ours = await timed(() => repo.flakyCases({ since, minRuns: 1, limit: 50 }));
  const base = await timed(() => obvious.all(since));
  const top = ours.result[0];
  console.log(`${label}: flakyCases ${ours.ms.toFixed(1)} ms (${ours.result.length} cases; top ${top ? `${top.name} ${top.flaky}/${top.jobs}` : "none"}), obvious GROUP BY ${base.ms.toFixed(1)} ms (${base.result.length} cases), ratio ${(ours.ms / base.ms).toFixed(3)}`);
}

console.log("\nSQLite's plans for flakyCases' statements:");
const ids = (db.query("SELECT id FROM jobs ORDER BY created_at DESC LIMIT 100").all() as { id: string }[]).map((r) => `'${r.id}'`).join(", ");
const plans: [string, string][] = [
  ["windowJobs", "SELECT j.id, coalesce(c.passed + c.failed + c.crashed + c.flaky + c.skipped, 0) FROM jobs j LEFT JOIN job_case_counts c ON c.job_id = j.id WHERE j.created_at >= 0"],
  ["candidates", `SELECT DISTINCT case_key, test_binary, suite, name FROM job_cases WHERE job_id IN (${ids}) AND status = 'flaky'`],
  ["counts (point lookups)", `SELECT case_key, count(*), sum(runs), sum(failures), sum(case when status = 'flaky' then 1 else 0 end) FROM job_cases WHERE job_id IN (${ids}) AND case_key IN ('a', 'b') AND status <> 'skipped' GROUP BY case_key`],
  ["counts (every row)", `SELECT case_key, count(*), sum(runs), sum(failures), sum(case when status = 'flaky' then 1 else 0 end) FROM job_cases WHERE job_id IN (${ids}) AND status <> 'skipped' GROUP BY case_key`],
  ["lastFailure", "SELECT * FROM cases WHERE case_key = 'a' AND reported_at >= 0 AND (status IN ('failed', 'crashed') OR flaky_failures > 0) ORDER BY reported_at DESC, attempt DESC LIMIT 1"],
];
for (const [name, statement] of plans) {
  console.log(`  ${name}:`);
  for (const step of db.query(`EXPLAIN QUERY PLAN ${statement}`).all() as { detail: string }[]) console.log(`    ${step.detail}`);
}
db.close();
await repo.close();
if (dir !== null) rmSync(dir, { recursive: true, force: true });
