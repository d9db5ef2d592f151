/**
 * `bun bench/cluster.ts [--runs N] [--only throughput|makespan|latency|big] [--work DIR] [--dt PATH]`
 *
 * Benchmarks a real dt cluster on this machine (`dt master` on a loopback
 * port, `dt slave` processes) against baselines measured in the same run:
 *   1. throughput and per-task overhead of 2,000 `true` tasks (vs xargs -P4);
 *   2. makespan of 200 heavy-tailed sleeps, without and with duration history
 *      (vs the lower bound max(longest, sum ÷ slots));
 *   3. dispatch latency, submit to command start, on an idle slave
 *      (vs starting a process locally);
 *   4. a 100,000-task job: submit, memory, status calls (vs a 100-task job).
 * Prints medians of N runs with min–max, ratios and targets. See bench/README.md.
 */
import { existsSync, mkdirSync, rmSync } from "node:fs";
import { join, resolve } from "node:path";
import { killAll, privateBinary, runBench } from "./isolate/procs.ts";
import { machineDescription, publishResults } from "./isolate/report.ts";
import { measureBigJob } from "./cluster/big-job.ts";
import { measureLatency } from "./cluster/latency.ts";
import { measureMakespan } from "./cluster/makespan.ts";
import { killCluster } from "./cluster/procs.ts";
import { resultTables } from "./cluster/report.ts";
import { Samples } from "./cluster/samples.ts";
import { measureThroughput } from "./cluster/throughput.ts";

const repo = resolve(import.meta.dir, "..");

const MEASUREMENTS = {
  throughput: measureThroughput,
  makespan: measureMakespan,
  latency: measureLatency,
  big: measureBigJob,
} as const;
type MeasurementName = keyof typeof MEASUREMENTS;

const USAGE = "usage: bun bench/cluster.ts [--runs N] [--only throughput|makespan|latency|big] [--work DIR] [--dt PATH]";

function parseArgs(argv: string[]) {
  const options = { runs: 3, only: undefined as MeasurementName | undefined, work: join(repo, "bench", ".work", "cluster"), dt: join(repo, "dist", "dt") };
  for (let i = 0; i < argv.length; i++) {
    const [flag, inline] = argv[i]!.split(/=(.*)/s, 2) as [string, string | undefined];
    const value = () => inline ?? argv[++i] ?? fail(`${flag} needs a value`);
    if (flag === "--runs") options.runs = Number(value());
    else if (flag === "--only") {
      const name = value();
      if (!(name in MEASUREMENTS)) fail(`--only ${name}: not one of ${Object.keys(MEASUREMENTS).join(", ")}`);
      options.only = name as MeasurementName;
    } else if (flag === "--work") options.work = resolve(value());
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
  if (!existsSync(options.dt)) fail(`${options.dt} does not exist; run \`bun run build\` first`);
  const scratch = join(options.work, "scratch");
  rmSync(scratch, { recursive: true, force: true });
  mkdirSync(scratch, { recursive: true });
  const { dt, version } = await privateBinary(options.dt, scratch);
  console.log(`bench: ${new Date().toISOString()}; ${version}; ${machineDescription()}`);

  const samples = new Samples();
  const names = options.only ? [options.only] : (Object.keys(MEASUREMENTS) as MeasurementName[]);
  for (let run = 1; run <= options.runs; run++) {
    for (const name of names) {
      const started = performance.now();
      const dir = join(scratch, `run-${run}`, name);
      try {
        await MEASUREMENTS[name](dt, dir, samples);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
      console.log(`bench: run ${run}/${options.runs}: ${name} done in ${((performance.now() - started) / 1000).toFixed(1)} s`);
    }
  }

  const text = resultTables(samples, options.runs);
  const command = `bun bench/cluster.ts --runs ${options.runs}${options.only ? ` --only ${options.only}` : ""}`;
  const header = `${new Date().toISOString().slice(0, 10)}, ${version}, \`${command}\`\n${machineDescription()}\n`;
  return publishResults(header, text, samples.failures, options.work);
}

let cleaningUp = false;
async function cleanUp(): Promise<void> {
  if (cleaningUp) return;
  cleaningUp = true;
  await Promise.all([killCluster(), killAll()]);
  rmSync(join(parseArgs(process.argv.slice(2)).work, "scratch"), { recursive: true, force: true });
}

await runBench(main, cleanUp, "stopping the cluster and removing scratch files");
