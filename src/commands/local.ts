import { defineCommand } from "citty";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { availableParallelism, tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { processIo, withInterrupt } from "../client/io.ts";
import { watchAndReport } from "../client/report.ts";
import { openSession } from "../client/session.ts";
import { submitTasks } from "../client/submit.ts";
import { ignoredKeysWarning, parseTasks } from "../client/tasks-file.ts";
import { DtError } from "../common/errors.ts";
import { createLogger } from "../common/log.ts";
import { archiveCommands, archiveTasksFile, commandDescriptions, readLocalTasks } from "../local/archive-tasks.ts";
import { KeptLogs, LOCAL_RESULTS_DIR } from "../local/kept-logs.ts";
import { startSlaves } from "../local/slave-processes.ts";
import { printFailureOutput } from "../local/failure-output.ts";
import { startMasterServer } from "../master/server.ts";
import { commandContext, logArgs, splitAtDashDash } from "./context.ts";
import type { ArgvPolicy } from "./argv.ts";
import { reuseArgs, reuseOf } from "./reuse-args.ts";
import { exitCodeOfReport, pollMs } from "./watch.ts";

export const argvPolicy: ArgvPolicy = { afterDashDash: "with --dir, the commands to run, one task each (sh -c)" };

export default defineCommand({
  meta: {
    name: "local",
    description: "Run a job on this machine: a master with its CAS, N slave processes, submit, watch, summary, exit code (0 passed, 88 failed)",
  },
  args: {
    tasks: { type: "positional", required: false, description: 'tasks.json; a task may name an .isolate file ("isolate": "x.isolate") instead of an isolate_hash' },
    slaves: { type: "string", description: "Slave processes to start", default: "2" },
    slots: { type: "string", description: "Tasks each slave runs at once (default: cores ÷ slaves, at least 1)" },
    dir: { type: "string", description: "Instead of tasks.json: archive this directory and run each command after -- as one task (sh -c)" },
    "max-retries": { type: "string", description: "With --dir: retries per failed task", default: "0" },
    timeout: { type: "string", description: "With --dir: seconds before a task is killed (default: no limit)" },
    "data-dir": { type: "string", description: "Keep the master's database, logs and artifacts here (default: a temporary directory, removed after)" },
    "poll-interval": { type: "string", description: "Seconds between progress updates", default: "0.5" },
    junit: { type: "string", description: "Write a JUnit XML report here" },
    // Reuse finds only what this master ran before: with --data-dir, an earlier dt local's results.
    ...reuseArgs,
    ...logArgs,
  },
  async run({ args, rawArgs }) {
    const ctx = commandContext(args);
    const reuse = reuseOf(rawArgs, "dt local");
    const slaveCount = Number(args.slaves);
    if (!Number.isInteger(slaveCount) || slaveCount < 1 || slaveCount > 64) throw new DtError("invalid_input", `--slaves: ${JSON.stringify(args.slaves)} must be an integer from 1 to 64`);
    const slots = args.slots === undefined ? Math.max(1, Math.floor(availableParallelism() / slaveCount)) : Number(args.slots);
    if (!Number.isInteger(slots) || slots < 1) throw new DtError("invalid_input", `--slots: ${JSON.stringify(args.slots)} is not a positive integer`);
    // citty fills TASKS from the words after -- when none comes before it: the tasks file is a positional before --.
    const positionals = args._ as string[];
    const tasksPath = positionals.length > splitAtDashDash(rawArgs).rest.length ? positionals[0] : undefined;
    if (!tasksPath && !args.dir) throw new DtError("invalid_input", "give a tasks.json, or --dir DIR with commands after --");
    if (tasksPath && args.dir) throw new DtError("invalid_input", `give a tasks.json (${tasksPath}) or --dir DIR with commands after --, not both`);
    if (!args.dir && splitAtDashDash(rawArgs).rest.length > 0) throw new DtError("invalid_input", "commands after -- are for --dir DIR; a tasks.json names its commands in its manifests");
    const interval = pollMs(args["poll-interval"]);
    // Read and checked before a server starts: a typo in the file costs nothing.
    const file = tasksPath === undefined ? undefined : readLocalTasks(tasksPath);
    if (args.dir) commandDescriptions(splitAtDashDash(rawArgs).rest);
    if (file && file.ignoredKeys.length > 0) ctx.log.warn(ignoredKeysWarning(tasksPath!, file.ignoredKeys));
    const dirTask = { max_retries: wholeNumber(args["max-retries"], "--max-retries"), ...(args.timeout === undefined ? {} : { timeout: wholeNumber(args.timeout, "--timeout") }) };

    const dataDir = args["data-dir"] ? resolve(args["data-dir"]) : mkdtempSync(join(tmpdir(), "dt-local-"));
    mkdirSync(dataDir, { recursive: true });
    const quiet = createLogger({ level: "warn", format: args["log-format"] });
    const server = await startMasterServer({
      port: 0,
      host: "127.0.0.1",
      db: "sqlite",
      dataDir,
      dispatch: { leaseTtlMs: 30_000, heartbeatIntervalMs: 5_000, noResourceTimeoutMs: 60_000, maxWaitMs: 30_000, maxInfraRequeues: 3 },
      clock: ctx.clock,
      log: quiet,
    });
    const slaves = startSlaves({ count: slaveCount, slots, masterUrl: server.url, cacheDir: join(dataDir, "cache"), logDir: dataDir, env: ctx.env, log: ctx.log });
    ctx.log.info(`master at ${server.url}, ${slaveCount} slaves × ${slots} slots, data in ${dataDir}`);
    try {
      const hashCache = join(dataDir, "hashes.sqlite");
      const json = args.dir
        ? await archiveCommands(resolve(args.dir), splitAtDashDash(rawArgs).rest, server.url, ctx.log, hashCache, dirTask)
        : await archiveTasksFile(resolve(tasksPath!), file!.json, server.url, ctx.log, hashCache);
      const { tasks } = parseTasks(json, tasksPath ?? "--dir");
      // The last-job file belongs to the user's real master; a local job's id goes beside its data.
      const io = { ...processIo(), env: { ...process.env, DIST_TEST_JOB_PATH: join(dataDir, "last-job") } };
      const session = openSession({ master: server.url, "log-level": args["log-level"], "log-format": args["log-format"] }, io);
      const created = await submitTasks(session, tasks, { name: "local", masterStopsAfter: true, reuse });
      // This master stops when the job ends: the report points at copies, in --data-dir or under the working directory.
      const keptDir = args["data-dir"] ? join(dataDir, "results", created.job_id) : resolve(LOCAL_RESULTS_DIR, created.job_id);
      const kept = new KeptLogs(session.api, keptDir, ctx.log);
      const report = await withInterrupt(io, (signal) => watchAndReport(session, created.job_id, { pollMs: interval, junitPath: args.junit, signal, links: kept }));
      // The output itself, for a reader of a CI log who cannot open the files.
      await printFailureOutput(server.master, created.job_id, process.stdout);
      if (kept.size > 0) ctx.log.info(`the logs of the failed attempts are kept in ${kept.dir}`);
      if (args["data-dir"]) ctx.log.info(`the master's database, logs and artifacts are kept in ${dataDir}`);
      else ctx.log.info("the master's own data is removed now; pass --data-dir DIR to keep it");
      process.exitCode = exitCodeOfReport(report);
    } finally {
      await slaves.stop();
      await server.stop(1_000);
      if (!args["data-dir"]) rmSync(dataDir, { recursive: true, force: true });
    }
  },
});

/** A flag's whole number (the master takes timeouts in whole seconds), checked before anything starts. */
function wholeNumber(text: string, flag: string): number {
  const n = Number(text);
  if (!/^\d+$/.test(text.trim()) || !Number.isSafeInteger(n)) throw new DtError("invalid_input", `${flag}: ${JSON.stringify(text)} is not a whole number`);
  return n;
}
