/**
 * `bun bench/chaos.ts [--backend embedded|mysql|all] [--scenario NAME ...]
 *   [--tasks N] [--dt PATH] [--work DIR]`
 *
 * The outside review as one command: real `dt master` and `dt slave`
 * processes on this machine, and in each scenario something goes wrong —
 * a slave or the master SIGKILLed and restarted, beanstalkd, MariaDB or S3
 * SIGKILLed and restarted, a cancel of commands that fork, a 10,000-task
 * load from three submitters, a slave cache too small for its task, a
 * chatty task on a busy machine. Every scenario runs on `embedded` (dt's
 * defaults) and on `mysql` (a private MariaDB, beanstalkd and s3rver of the
 * bench's own), has a deadline, and cleans up whatever it started. Each
 * task's command appends its job and task id to a file of the run, so a
 * command that ran twice is counted as well as a task with two results.
 * Prints a table scenario × backend; exits 1 on any task lost, result
 * duplicated, job unfinished or process left, 2 on a bad flag. See
 * bench/README.md.
 */
import { mkdirSync, readFileSync, rmSync } from "node:fs";
import { join, resolve } from "node:path";
import { type ChaosBackend, BACKEND_NAMES, type ChaosBackendName, embeddedChaosBackend, mysqlChaosBackend } from "./chaos/backends.ts";
import { beanstalkdRestart, masterKill, mysqlRestart, s3Restart, slaveKill } from "./chaos/faults.ts";
import { chaosTable } from "./chaos/report.ts";
import { type Row, type RunTracker, runScenario } from "./chaos/runner.ts";
import type { Scenario } from "./chaos/scenario.ts";
import { big, cancel, chatty, tmpfsCache } from "./chaos/stress.ts";
import { killCluster } from "./cluster/procs.ts";
import { killAll, runBench, timedRun } from "./isolate/procs.ts";
import { dtUnderTest } from "./dt-under-test.ts";
import { machineDescription, publishResults } from "./isolate/report.ts";

const repo = resolve(import.meta.dir, "..");

/** In the order they run: the quick faults first, the long ones (the big load, the busy machine) last. */
const SCENARIOS: readonly Scenario[] = [slaveKill, masterKill, beanstalkdRestart, mysqlRestart, s3Restart, cancel, tmpfsCache, big, chatty];

const USAGE = `usage: bun bench/chaos.ts [--backend embedded|mysql|all] [--scenario NAME ...] [--tasks N] [--dt PATH] [--work DIR]
scenarios: ${SCENARIOS.map((s) => s.name).join(", ")}`;

function parseArgs(argv: string[]) {
  const options = {
    backends: [...BACKEND_NAMES] as ChaosBackendName[],
    scenarios: [] as string[],
    tasks: 10_000,
    dt: undefined as string | undefined,
    work: join(repo, "bench", ".work", "chaos"),
  };
  for (let i = 0; i < argv.length; i++) {
    const [flag, inline] = argv[i]!.split(/=(.*)/s, 2) as [string, string | undefined];
    const value = () => inline ?? argv[++i] ?? fail(`${flag} needs a value`);
    if (flag === "--backend") {
      const b = value();
      if (b !== "all" && !(BACKEND_NAMES as readonly string[]).includes(b)) fail(`--backend ${b}: not one of ${BACKEND_NAMES.join(", ")}, all`);
      options.backends = b === "all" ? [...BACKEND_NAMES] : [b as ChaosBackendName];
    } else if (flag === "--scenario") {
      // NAME ..., NAME,NAME or the flag repeated: the names up to the next flag.
      const names = [value()];
      while (inline === undefined && argv[i + 1] !== undefined && !argv[i + 1]!.startsWith("--")) names.push(argv[++i]!);
      for (const n of names.flatMap((x) => x.split(",")).filter(Boolean)) {
        if (!SCENARIOS.some((s) => s.name === n)) fail(`--scenario ${n}: not one of ${SCENARIOS.map((s) => s.name).join(", ")}`);
        options.scenarios.push(n);
      }
    } else if (flag === "--tasks") {
      options.tasks = Number(value());
      if (!Number.isInteger(options.tasks) || options.tasks < 3) fail("--tasks must be an integer of at least 3 (one per submitter)");
    } else if (flag === "--dt") options.dt = resolve(value());
    else if (flag === "--work") options.work = resolve(value());
    else fail(`unknown flag ${flag}\n${USAGE}`);
  }
  return options;
}

function fail(message: string): never {
  console.error(`bench: ${message}`);
  process.exit(2);
}

/** What a Ctrl-C or a crash must clean up: the run in progress and the backends' servers. */
const tracker: RunTracker = {};
const opened: ChaosBackend[] = [];

async function main(): Promise<number> {
  const options = parseArgs(process.argv.slice(2));
  const scenarios = options.scenarios.length > 0 ? SCENARIOS.filter((s) => options.scenarios.includes(s.name)) : SCENARIOS;
  const scratch = join(options.work, "scratch");
  // A run killed with SIGKILL had no chance to unmount its tmpfs: removing the scratch dir would stop at it.
  for (const mount of mountsUnder(scratch)) await timedRun(["umount", "-l", mount], { timeoutMs: 10_000 });
  rmSync(scratch, { recursive: true, force: true });
  rmSync(join(options.work, "failures"), { recursive: true, force: true });
  mkdirSync(scratch, { recursive: true });
  const { dt, version } = await dtUnderTest(options.dt, scratch, fail);
  console.log(`bench: ${new Date().toISOString()}; ${version}; ${machineDescription()}`);

  const rows: Row[] = [];
  for (const name of options.backends) {
    const needed = scenarios.filter((s) => !s.outage || name === "mysql");
    let backend: ChaosBackend;
    try {
      backend = name === "embedded" ? embeddedChaosBackend() : await mysqlChaosBackend();
    } catch (err) {
      rows.push(...needed.map((s) => ({ scenario: s.name, backend: name, failures: [`the ${name} backend did not start: ${(err as Error).message.split("\n", 1)[0]}`], notes: [], wallSec: 0 })));
      continue;
    }
    opened.push(backend);
    for (const scenario of scenarios) {
      if (tracker.stopping) break;
      const row = await runScenario(scenario, backend, dt, { runs: join(scratch, "runs"), failures: join(options.work, "failures") }, { tasks: options.tasks }, tracker);
      rows.push(row);
      const status = !row.verdict ? (row.failures.length > 0 ? "FAIL" : "n/a") : row.failures.length > 0 ? `FAIL (${row.failures.join("; ")})` : "pass";
      console.log(`bench: ${scenario.name} on ${name}: ${status} in ${row.wallSec.toFixed(1)} s`);
    }
    await backend.close();
    opened.splice(opened.indexOf(backend), 1);
  }

  const flags = [options.backends.length === 1 && `--backend ${options.backends[0]}`, options.scenarios.length > 0 && `--scenario ${options.scenarios.join(" ")}`, options.tasks !== 10_000 && `--tasks ${options.tasks}`];
  const command = `bun bench/chaos.ts ${flags.filter(Boolean).join(" ")}`.trim();
  const header = `${new Date().toISOString().slice(0, 10)}, ${version}, \`${command}\`\n${machineDescription()}\n`;
  const failures = rows.flatMap((r) => r.failures.map((f) => `${r.scenario} on ${r.backend}: ${f}`));
  return publishResults(header, chaosTable(rows), failures, options.work);
}

/** Mount points at or below `dir`, from /proc/self/mounts (octal escapes, such as \040 for a space, decoded). */
function mountsUnder(dir: string): string[] {
  return readFileSync("/proc/self/mounts", "utf8")
    .split("\n")
    .map((line) => line.split(" ")[1]?.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8))))
    .filter((mount): mount is string => mount !== undefined && (mount === dir || mount.startsWith(`${dir}/`)));
}

async function cleanUp(): Promise<void> {
  tracker.stopping = true;
  await tracker.cluster?.stop();
  await Promise.all([killCluster(), killAll()]);
  await Promise.all(opened.map((b) => b.close()));
  rmSync(join(parseArgs(process.argv.slice(2)).work, "scratch"), { recursive: true, force: true });
}

await runBench(main, cleanUp, "stopping the cluster and the private servers, unmounting the tmpfs");
