/**
 * `bun bench/case-scheduling.ts [--runs N] [--shard-seconds S] [--max-shards N] [--work DIR] [--dt PATH]`
 *
 * Issue 14 §4: scheduling by test case, measured on a real `dt master` and
 * real `dt slave` processes on this machine, with real gtest binaries of
 * the bench's own (bench/case-scheduling/workload.ts; built with g++ into
 * WORK/bin on first use):
 *   1. a job where one binary dominates (200 cases, long-tailed, ~60 s,
 *      the longest 3 s) beside three short ones, on 4 slaves × 2 slots,
 *      unsharded, with `"shards": 8` and with `"shards": "auto"` twice
 *      (no history, then history): makespan ÷ max(longest case, Σ ÷ 8);
 *   2. a 60 s binary with one flaky case and max_retries 1, retried by
 *      default (only its failed cases) and with `"retry": "task"`: what the
 *      retry adds against the flaky case's time plus dt's per-task overhead.
 * A mode this build's master refuses at submit reads "not available" in
 * the table. Prints medians of N runs with min–max; the tables are also
 * written to WORK/last-results.md. Exit 1 when a correctness check failed
 * (a case run twice or never, a task that did not succeed), 2 on bad flags.
 * See bench/README.md.
 */
import { existsSync, mkdirSync, rmSync } from "node:fs";
import { join, resolve } from "node:path";
import { ToolchainMissing, buildBinaries } from "./case-scheduling/binaries.ts";
import { type AutoOptions, type Skipped, measureRun } from "./case-scheduling/measure.ts";
import { resultTables } from "./case-scheduling/report.ts";
import { benchBinaries } from "./case-scheduling/workload.ts";
import { killCluster } from "./cluster/procs.ts";
import { Samples } from "./cluster/samples.ts";
import { killAll, privateBinary, runBench } from "./isolate/procs.ts";
import { machineDescription, publishResults } from "./isolate/report.ts";

const repo = resolve(import.meta.dir, "..");

const USAGE = "usage: bun bench/case-scheduling.ts [--runs N] [--shard-seconds S] [--max-shards N] [--work DIR] [--dt PATH]";

function parseArgs(argv: string[]) {
  const options = {
    // A run takes ~2 minutes (the whole-task retry's ~120 s, beside the four makespan jobs' ~90 s): 3 fit in ~6 minutes.
    runs: 3,
    /**
     * The auto shards' `shard_seconds`; unset: the master's default (60 s).
     * The master also gives a binary its share of the pool's slots, so the
     * default already splits this 60 s binary over 7 of the 8 slots.
     */
    shardSeconds: undefined as number | undefined,
    /** Unset: the master's own cap. */
    maxShards: undefined as number | undefined,
    work: join(repo, "bench", ".work", "case-scheduling"),
    dt: join(repo, "dist", "dt"),
  };
  for (let i = 0; i < argv.length; i++) {
    const [flag, inline] = argv[i]!.split(/=(.*)/s, 2) as [string, string | undefined];
    const value = () => inline ?? argv[++i] ?? fail(`${flag} needs a value`);
    if (flag === "--runs") options.runs = Number(value());
    else if (flag === "--shard-seconds") options.shardSeconds = Number(value());
    else if (flag === "--max-shards") options.maxShards = Number(value());
    else if (flag === "--work") options.work = resolve(value());
    else if (flag === "--dt") options.dt = resolve(value());
    else fail(`unknown flag ${flag}; ${USAGE}`);
  }
  if (!Number.isInteger(options.runs) || options.runs < 1) fail("--runs must be a positive integer");
  if (options.shardSeconds !== undefined && (!Number.isInteger(options.shardSeconds) || options.shardSeconds < 1)) fail("--shard-seconds must be a positive whole number of seconds (the master takes whole seconds)");
  if (options.maxShards !== undefined && (!Number.isInteger(options.maxShards) || options.maxShards < 1)) fail("--max-shards must be a positive integer");
  return options;
}

function fail(message: string): never {
  console.error(`bench: ${message}`);
  process.exit(2);
}

async function main(): Promise<number> {
  const options = parseArgs(process.argv.slice(2));
  if (!existsSync(options.dt)) fail(`${options.dt} does not exist; run \`bun run build\` first`);
  const specs = benchBinaries();
  let binaries: Map<string, string>;
  try {
    binaries = await buildBinaries([specs.longtail, ...specs.short, specs.flaky], join(options.work, "bin"));
  } catch (err) {
    if (err instanceof ToolchainMissing) fail(err.message);
    throw err;
  }
  const scratch = join(options.work, "scratch");
  rmSync(scratch, { recursive: true, force: true });
  mkdirSync(scratch, { recursive: true });
  const { dt, version } = await privateBinary(options.dt, scratch);
  console.log(`bench: ${new Date().toISOString()}; ${version}; ${machineDescription()}`);

  const auto: AutoOptions = { shardSeconds: options.shardSeconds, maxShards: options.maxShards };
  const samples = new Samples();
  const skipped: Skipped = new Map();
  let runsDone = 0;
  for (let run = 1; run <= options.runs; run++) {
    const started = performance.now();
    const dir = join(scratch, `run-${run}`);
    try {
      await measureRun(dt, dir, binaries, samples, skipped, auto);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    runsDone = run;
    console.log(`bench: run ${run}/${options.runs} done in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  }

  const flags = [`--runs ${options.runs}`, options.shardSeconds !== undefined && `--shard-seconds ${options.shardSeconds}`, options.maxShards !== undefined && `--max-shards ${options.maxShards}`];
  const command = `bun bench/case-scheduling.ts ${flags.filter(Boolean).join(" ")}`;
  const header = `${new Date().toISOString().slice(0, 10)}, ${version}, \`${command}\`\n${machineDescription()}\n`;
  return publishResults(header, resultTables(samples, skipped, runsDone), samples.failures, options.work);
}

async function cleanUp(): Promise<void> {
  await Promise.all([killCluster(), killAll()]);
  rmSync(join(parseArgs(process.argv.slice(2)).work, "scratch"), { recursive: true, force: true });
}

await runBench(main, cleanUp, "stopping the clusters, removing scratch files");
