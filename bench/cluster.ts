/**
 * `bun bench/cluster.ts [--runs N] [--only throughput,makespan,latency,big]
 *   [--backends embedded,scaled,mysql,beanstalkd,s3,mysql+beanstalkd,...]
 *   [--mysql URL] [--beanstalkd HOST:PORT] [--s3-endpoint URL]
 *   [--work DIR] [--dt PATH]`
 *
 * Benchmarks a real dt cluster on this machine (`dt master` on a loopback
 * port, `dt slave` processes) against baselines measured in the same run:
 *   1. throughput and per-task overhead of 2,000 `true` tasks (vs xargs -P4);
 *   2. makespan of 200 heavy-tailed sleeps, without and with duration history
 *      (vs the lower bound max(longest, sum ÷ slots));
 *   3. dispatch latency, submit to command start, on an idle slave
 *      (vs starting a process locally);
 *   4. a 100,000-task job: submit, memory, status calls (vs a 100-task job).
 * 1–3 run on each backend of `--backends` (default embedded,scaled; they
 * take turns within a run). `embedded` is the master's defaults (SQLite,
 * in-process queue, local dirs). `scaled` is MariaDB at `--mysql` (default
 * mysql://root@127.0.0.1:3306), beanstalkd and S3 (s3rver): the bench's
 * own, unless `--beanstalkd`/`--s3-endpoint` name servers (see
 * bench/cluster/services.ts). Each master gets a fresh database, tube
 * prefix and bucket, removed after it. `mysql`, `beanstalkd`, `s3` and
 * combinations such as `mysql+beanstalkd` take only those from outside.
 * 4 runs on embedded only: it measures the master's own bookkeeping of a
 * huge queue, and storing its 200,000 rows elsewhere is a question of its own.
 * A measurement that fails on a backend is reported and not tried again.
 * Prints medians of N runs with min–max, ratios and targets. See bench/README.md.
 */
import { existsSync, mkdirSync, rmSync } from "node:fs";
import { join, resolve } from "node:path";
import { killAll, privateBinary, runBench } from "./isolate/procs.ts";
import { machineDescription, publishResults } from "./isolate/report.ts";
import { type Backend, type BackendName, DEFAULT_BACKENDS, componentsOf, embeddedBackend, externalBackend } from "./cluster/backends.ts";
import { measureBigJob } from "./cluster/big-job.ts";
import { measureLatency } from "./cluster/latency.ts";
import { measureMakespan } from "./cluster/makespan.ts";
import { killCluster } from "./cluster/procs.ts";
import { resultTables } from "./cluster/report.ts";
import { Samples } from "./cluster/samples.ts";
import { type Servers, openServers } from "./cluster/services.ts";
import { measureThroughput } from "./cluster/throughput.ts";

const repo = resolve(import.meta.dir, "..");

const MEASUREMENTS = {
  throughput: { measure: measureThroughput, external: true },
  makespan: { measure: measureMakespan, external: true },
  latency: { measure: measureLatency, external: true },
  big: { measure: measureBigJob, external: false },
} as const;
type MeasurementName = keyof typeof MEASUREMENTS;

const USAGE =
  "usage: bun bench/cluster.ts [--runs N] [--only throughput,makespan,latency,big] [--backends embedded,scaled,mysql,beanstalkd,s3,mysql+beanstalkd,...] [--mysql URL] [--beanstalkd HOST:PORT] [--s3-endpoint URL] [--work DIR] [--dt PATH]";

function parseArgs(argv: string[]) {
  const options = {
    runs: 3,
    only: undefined as MeasurementName[] | undefined,
    backends: [...DEFAULT_BACKENDS],
    mysql: "mysql://root@127.0.0.1:3306",
    beanstalkd: undefined as string | undefined,
    s3Endpoint: undefined as string | undefined,
    work: join(repo, "bench", ".work", "cluster"),
    dt: join(repo, "dist", "dt"),
  };
  for (let i = 0; i < argv.length; i++) {
    const [flag, inline] = argv[i]!.split(/=(.*)/s, 2) as [string, string | undefined];
    const value = () => inline ?? argv[++i] ?? fail(`${flag} needs a value`);
    if (flag === "--runs") options.runs = Number(value());
    else if (flag === "--only") {
      const names = value().split(",").filter((n) => n !== "");
      for (const n of names) if (!(n in MEASUREMENTS)) fail(`--only ${n}: not one of ${Object.keys(MEASUREMENTS).join(", ")}`);
      if (names.length === 0) fail("--only needs at least one measurement");
      // In the usual order, whatever the flag's.
      options.only = (Object.keys(MEASUREMENTS) as MeasurementName[]).filter((n) => names.includes(n));
    } else if (flag === "--backends") {
      const names = [...new Set(value().split(",").filter((n) => n !== ""))];
      for (const n of names) if (!componentsOf(n)) fail(`--backends: ${n} is not embedded, scaled, or some of mysql, beanstalkd, s3 joined by +`);
      if (names.length === 0) fail("--backends needs at least one backend");
      // Embedded first: the others' columns are compared with it.
      options.backends = [...names.filter((n) => n === "embedded"), ...names.filter((n) => n !== "embedded")];
    } else if (flag === "--mysql") options.mysql = value();
    else if (flag === "--beanstalkd") options.beanstalkd = value();
    else if (flag === "--s3-endpoint") options.s3Endpoint = value();
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

/** Every backend opened and the servers behind them, so clean-up can remove what a failed or interrupted run left. */
const opened: Backend[] = [];
let serversOpened: Servers | undefined;

async function main(): Promise<number> {
  const options = parseArgs(process.argv.slice(2));
  if (!existsSync(options.dt)) fail(`${options.dt} does not exist; run \`bun run build\` first`);
  const scratch = join(options.work, "scratch");
  rmSync(scratch, { recursive: true, force: true });
  mkdirSync(scratch, { recursive: true });
  const { dt, version } = await privateBinary(options.dt, scratch);
  console.log(`bench: ${new Date().toISOString()}; ${version}; ${machineDescription()}`);

  const names = options.only ?? (Object.keys(MEASUREMENTS) as MeasurementName[]);
  const runsOn = (measurement: MeasurementName, backend: BackendName) => MEASUREMENTS[measurement].external || backend === "embedded";
  const needed = options.backends.filter((b) => names.some((n) => runsOn(n, b)));
  if (needed.length === 0) fail(`${names.join(", ")} runs on embedded only; --backends ${options.backends.join(",")} leaves nothing to run`);
  const servers = needed.some((b) => b !== "embedded") ? await openServers(options, join(scratch, "servers")) : undefined;
  if (servers) {
    serversOpened = servers;
    console.log(`bench: servers: MariaDB ${servers.mysql}, beanstalkd ${servers.beanstalkd}, S3 ${servers.s3Endpoint}`);
  }
  const backends = new Map<BackendName, Backend>();
  for (const name of needed) {
    const backend = name === "embedded" ? embeddedBackend() : externalBackend(name, servers!);
    backends.set(name, backend);
    opened.push(backend);
  }

  const samples = new Map<BackendName, Samples>(needed.map((b) => [b, new Samples()]));
  // A measurement that failed on a backend is not tried again in later runs: a bug is not noise, and a stuck job takes minutes.
  const failed = new Map<string, string>();
  for (let run = 1; run <= options.runs; run++) {
    for (const name of names) {
      for (const backend of backends.values()) {
        const key = `${name} on ${backend.name}`;
        if (!runsOn(name, backend.name) || failed.has(key)) continue;
        const started = performance.now();
        const dir = join(scratch, `run-${run}`, `${name}-${backend.name}`);
        try {
          await MEASUREMENTS[name].measure(dt, dir, samples.get(backend.name)!, backend);
        } catch (err) {
          failed.set(key, `run ${run}: ${(err as Error).message}`);
          console.error(`bench: run ${run}/${options.runs}: ${key} FAILED after ${((performance.now() - started) / 1000).toFixed(1)} s (not tried again): ${(err as Error).message}`);
          continue;
        } finally {
          rmSync(dir, { recursive: true, force: true });
        }
        console.log(`bench: run ${run}/${options.runs}: ${key} done in ${((performance.now() - started) / 1000).toFixed(1)} s`);
      }
    }
  }

  const text = resultTables(samples, new Set(failed.keys()), options.runs) + [...failed].map(([key, why]) => `\n\n**${key} failed** (${why.split("\n", 1)[0]})`).join("");
  const flags = [`--runs ${options.runs}`, options.only && `--only ${options.only.join(",")}`, options.backends.join(",") !== DEFAULT_BACKENDS.join(",") && `--backends ${options.backends.join(",")}`];
  const command = `bun bench/cluster.ts ${flags.filter(Boolean).join(" ")}`;
  const header = `${new Date().toISOString().slice(0, 10)}, ${version}, \`${command}\`\n${machineDescription()}\n`;
  return publishResults(header, text, [...[...samples.values()].flatMap((s) => s.failures), ...[...failed].map(([key, why]) => `${key}: ${why}`)], options.work);
}

let cleaningUp = false;
async function cleanUp(): Promise<void> {
  if (cleaningUp) return;
  cleaningUp = true;
  await Promise.all([killCluster(), killAll()]);
  // Databases and buckets before the servers they live on.
  await Promise.all(opened.map((b) => b.close()));
  await serversOpened?.stop();
  rmSync(join(parseArgs(process.argv.slice(2)).work, "scratch"), { recursive: true, force: true });
}

await runBench(main, cleanUp, "stopping the cluster, dropping bench databases and buckets, removing scratch files");
