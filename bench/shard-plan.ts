/**
 * `bun bench/shard-plan.ts [--cases N] [--jobs N] [--runs N] [--backends sqlite,mysql] [--mysql URL]`
 *
 * What planning a `shards: "auto"` task costs the master for a big binary:
 * its case history is N cases (default 100,000) in each of `--jobs` jobs
 * (default 3), beside another binary's 20,000 per job, stored through the
 * Repo as reports store them. The plan's read (Repo.binaryCaseDurations) and
 * the planner are timed against a baseline in the same run: reading the
 * latest job's N merged case rows once (Repo.listJobCases), the least any
 * view of that many cases costs. Prints the medians of `--runs` (default 5)
 * and the ratio, per backend.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fitsFilter } from "../src/master/cases/case-filter.ts";
import { MysqlRepo } from "../src/master/repo/mysql.ts";
import type { Repo } from "../src/master/repo/repo.ts";
import { SqliteRepo } from "../src/master/repo/sqlite.ts";
import { planShards } from "../src/master/scheduler/shard-planner.ts";

interface Options {
  cases: number;
  jobs: number;
  runs: number;
  backends: ("sqlite" | "mysql")[];
  mysql: string;
}

function fail(message: string): never {
  console.error(`shard-plan: ${message}`);
  process.exit(2);
}

function parseArgs(argv: string[]): Options {
  const o: Options = { cases: 100_000, jobs: 3, runs: 5, backends: ["sqlite", "mysql"], mysql: "mysql://root@127.0.0.1:3306" };
  for (let i = 0; i < argv.length; i++) {
    const [flag, inline] = argv[i]!.split(/=(.*)/s, 2) as [string, string | undefined];
    const value = () => inline ?? argv[++i] ?? fail(`${flag} needs a value`);
    if (flag === "--cases") o.cases = Number(value());
    else if (flag === "--jobs") o.jobs = Number(value());
    else if (flag === "--runs") o.runs = Number(value());
    else if (flag === "--backends") o.backends = value().split(",").map((b) => (b === "sqlite" || b === "mysql" ? b : fail(`--backends: ${b} is not sqlite or mysql`)));
    else if (flag === "--mysql") o.mysql = value().replace(/\/+$/, "");
    else fail(`unknown flag ${flag}`);
  }
  for (const [name, n] of [["--cases", o.cases], ["--jobs", o.jobs], ["--runs", o.runs]] as const) if (!Number.isInteger(n) || n < 1) fail(`${name}: a positive integer`);
  return o;
}

/** The history: each job reports every case of the big binary (durations 0-999 ms) and 20,000 of another. */
async function fill(repo: Repo, o: Options): Promise<void> {
  for (let j = 0; j < o.jobs; j++) {
    const cases = Array.from({ length: o.cases }, (_, i) => ({ suite: `Suite${i % 500}`, name: `case_${i}`, status: "passed" as const, durationMs: (i * 7 + j) % 1000, message: null, file: null, line: null }));
    await repo.storeCases({ jobId: `plan.${j}`, taskId: "t", attempt: 0, binary: "big_test", reportedAt: 1_000 + j }, cases);
    await repo.storeCases({ jobId: `plan.${j}`, taskId: "u", attempt: 0, binary: "other_test", reportedAt: 1_000 + j }, cases.slice(0, 20_000));
  }
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;

async function measure(label: string, repo: Repo, o: Options): Promise<void> {
  const started = performance.now();
  await fill(repo, o);
  console.log(`${label}: stored ${o.jobs} × (${o.cases} + 20,000) cases in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  const base: number[] = [];
  const read: number[] = [];
  const plan: number[] = [];
  let outcome = "";
  for (let r = 0; r < o.runs; r++) {
    let t = performance.now();
    const rows = await repo.listJobCases(`plan.${o.jobs - 1}`, { limit: o.cases });
    base.push(performance.now() - t);
    t = performance.now();
    const known = await repo.binaryCaseDurations("big_test");
    read.push(performance.now() - t);
    t = performance.now();
    const p = planShards({ cases: known, targetMs: 60_000, maxShards: 32, wholeTaskMs: null, fits: (s) => fitsFilter(null, s, {}) });
    plan.push(performance.now() - t);
    if (known.length !== o.cases || rows.length !== o.cases) fail(`read ${known.length} known cases and ${rows.length} job cases, not ${o.cases}`);
    outcome = p.kind === "cases" ? `${p.shards.length} shards by cases` : `${p.count} numeric shards (${p.reason})`;
  }
  const [b, rd, pl] = [median(base), median(read), median(plan)];
  console.log(`| ${label} | ${o.cases} | ${b.toFixed(0)} ms | ${rd.toFixed(0)} ms | ${pl.toFixed(0)} ms | ${((rd + pl) / b).toFixed(2)} | ${outcome} |`);
}

const o = parseArgs(process.argv.slice(2));
console.log("| backend | cases | baseline: one read of the job's cases | history read | plan | (read + plan) ÷ baseline | plan |");
console.log("|---|---|---|---|---|---|---|");
for (const backend of o.backends) {
  if (backend === "sqlite") {
    const dir = mkdtempSync(join(tmpdir(), "dt-bench-shard-plan-"));
    const repo = await SqliteRepo.open(join(dir, "dt.sqlite"));
    try {
      await measure("sqlite", repo, o);
    } finally {
      await repo.close();
      rmSync(dir, { recursive: true, force: true });
    }
  } else {
    const db = `dt_bench_shard_plan_${process.pid}`;
    const { createConnection } = await import("mysql2/promise");
    const conn = await createConnection(o.mysql).catch((err: Error) => fail(`MariaDB at ${o.mysql}: ${err.message}`));
    await conn.query(`CREATE DATABASE ${db}`);
    try {
      const repo = await MysqlRepo.open(`${o.mysql}/${db}`);
      try {
        await measure("mariadb", repo, o);
      } finally {
        await repo.close();
      }
    } finally {
      await conn.query(`DROP DATABASE ${db}`);
      await conn.end();
    }
  }
}
