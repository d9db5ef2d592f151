/**
 * `bun bench/reuse.ts [--runs N] [--work DIR] [--dt PATH]`
 *
 * Issue 15 §4: reuse of identical idempotent tasks' results, and identical
 * tasks in flight run once, on a real `dt master` (embedded defaults) and
 * real `dt slave`s on this machine, against baselines of the same run:
 *   1. a re-submit of an unchanged 2,000-task idempotent job: 0 attempts
 *      run, POST → finished ≤ 200 ms, against the job's first run;
 *   2. the job with 10% of its tasks changed: only those run; its time
 *      ÷ (first run × 0.1);
 *   3. two identical 200-task idempotent jobs submitted together: 200
 *      attempts run in all, against the same pair not idempotent (400).
 * Runs dt from this checkout's source unless `--dt` names a built binary.
 * Prints medians of N runs with min–max; the table is also written to
 * WORK/last-results.md. Exit 1 when a correctness check failed (a task that
 * did not succeed, attempts run other than expected, the master's count
 * and the slaves' disagreeing), 2 on bad flags. See bench/README.md.
 */
import { mkdirSync, rmSync } from "node:fs";
import { join, resolve } from "node:path";
import { killCluster } from "./cluster/procs.ts";
import { Samples } from "./cluster/samples.ts";
import { killAll, runBench } from "./isolate/procs.ts";
import { dtUnderTest } from "./dt-under-test.ts";
import { machineDescription, publishResults } from "./isolate/report.ts";
import { measureRun } from "./reuse/measure.ts";
import { resultTable } from "./reuse/report.ts";

const repo = resolve(import.meta.dir, "..");

const USAGE = "usage: bun bench/reuse.ts [--runs N] [--work DIR] [--dt PATH]";

function parseArgs(argv: string[]) {
  const options = {
    // A run takes ~35-40 s (the first 2,000-task run ~25 s of it, plus starting and stopping five processes): 3 fit in ~2 minutes.
    runs: 3,
    work: join(repo, "bench", ".work", "reuse"),
    /** Unset: this checkout's source (`bun src/main.ts`), so the bench measures the tree it sits in with no build step. */
    dt: undefined as string | undefined,
  };
  for (let i = 0; i < argv.length; i++) {
    const [flag, inline] = argv[i]!.split(/=(.*)/s, 2) as [string, string | undefined];
    const value = () => inline ?? argv[++i] ?? fail(`${flag} needs a value`);
    if (flag === "--runs") options.runs = Number(value());
    else if (flag === "--work") options.work = resolve(value());
    else if (flag === "--dt") options.dt = resolve(value());
    else fail(`unknown flag ${flag}; ${USAGE}`);
  }
  if (!Number.isInteger(options.runs) || options.runs < 1) fail("--runs must be a positive integer");
  return options;
}

function fail(message: string): never {
  console.error(`bench: ${message}`);
  process.exit(2);
}

async function main(): Promise<number> {
  const options = parseArgs(process.argv.slice(2));
  const scratch = join(options.work, "scratch");
  rmSync(scratch, { recursive: true, force: true });
  mkdirSync(scratch, { recursive: true });
  const { dt, version } = await dtUnderTest(options.dt, scratch, fail);
  console.log(`bench: ${new Date().toISOString()}; ${version}; ${machineDescription()}`);

  const samples = new Samples();
  let runsDone = 0;
  for (let run = 1; run <= options.runs; run++) {
    const started = performance.now();
    const dir = join(scratch, `run-${run}`);
    try {
      await measureRun(dt, dir, run, samples);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    runsDone = run;
    console.log(`bench: run ${run}/${options.runs} done in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  }

  const command = `bun bench/reuse.ts --runs ${options.runs}${options.dt ? ` --dt ${options.dt}` : ""}`;
  const header = `${new Date().toISOString().slice(0, 10)}, ${version}, \`${command}\`\n${machineDescription()}\n`;
  return publishResults(header, resultTable(samples, runsDone), samples.failures, options.work);
}

async function cleanUp(): Promise<void> {
  await Promise.all([killCluster(), killAll()]);
  rmSync(join(parseArgs(process.argv.slice(2)).work, "scratch"), { recursive: true, force: true });
}

await runBench(main, cleanUp, "stopping the cluster, removing scratch files");
