import { defineCommand } from "citty";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { availableParallelism, tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { processIo, withInterrupt } from "../client/io.ts";
import { watchAndReport } from "../client/report.ts";
import { openSession } from "../client/session.ts";
import { submitTasks } from "../client/submit.ts";
import { parseTasks } from "../client/tasks-file.ts";
import { DtError } from "../common/errors.ts";
import { createLogger } from "../common/log.ts";
import { archiveCommands, archiveTasksFile } from "../local/archive-tasks.ts";
import { startSlaves } from "../local/slave-processes.ts";
import type { Master } from "../master/master.ts";
import { startMasterServer } from "../master/server.ts";
import { commandContext, logArgs, splitAtDashDash } from "./context.ts";
import { exitCodeOfReport, pollMs } from "./watch.ts";

export default defineCommand({
  meta: {
    name: "local",
    description: "Run a job on this machine: a master with its CAS, N slave processes, submit, watch, summary, exit code (0 passed, 88 failed)",
  },
  args: {
    tasks: { type: "positional", required: false, description: 'tasks.json; a task may name an .isolate file ("isolate": "x.isolate") instead of an isolate_hash' },
    slaves: { type: "string", description: "Slave processes to start (default 2)", default: "2" },
    slots: { type: "string", description: "Tasks each slave runs at once (default: cores ÷ slaves, at least 1)" },
    dir: { type: "string", description: "Instead of tasks.json: archive this directory and run each command after -- as one task (sh -c)" },
    "max-retries": { type: "string", description: "With --dir: retries per failed task (default 0)", default: "0" },
    timeout: { type: "string", description: "With --dir: seconds per task (default: none)", default: "0" },
    "data-dir": { type: "string", description: "Keep the master's database, logs and artifacts here (default: a temporary directory, removed after)" },
    "poll-interval": { type: "string", description: "Seconds between progress updates", default: "0.5" },
    junit: { type: "string", description: "Write a JUnit XML report here" },
    ...logArgs,
  },
  async run({ args, rawArgs }) {
    const ctx = commandContext(args);
    const slaveCount = Number(args.slaves);
    if (!Number.isInteger(slaveCount) || slaveCount < 1 || slaveCount > 64) throw new DtError("invalid_input", `--slaves: ${JSON.stringify(args.slaves)} must be an integer from 1 to 64`);
    const slots = args.slots === undefined ? Math.max(1, Math.floor(availableParallelism() / slaveCount)) : Number(args.slots);
    if (!Number.isInteger(slots) || slots < 1) throw new DtError("invalid_input", `--slots: ${JSON.stringify(args.slots)} is not a positive integer`);
    if (!args.tasks && !args.dir) throw new DtError("invalid_input", "give a tasks.json, or --dir DIR with commands after --");
    const interval = pollMs(args["poll-interval"]);

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
        ? await archiveCommands(resolve(args.dir), splitAtDashDash(rawArgs).rest, server.url, ctx.log, hashCache, {
            max_retries: Number(args["max-retries"]),
            timeout: Number(args.timeout),
          })
        : await archiveTasksFile(resolve(args.tasks!), server.url, ctx.log, hashCache);
      const { tasks } = parseTasks(json, args.tasks ?? "--dir");
      // The last-job file belongs to the user's real master; a local job's id goes beside its data.
      const io = { ...processIo(), env: { ...process.env, DIST_TEST_JOB_PATH: join(dataDir, "last-job") } };
      const session = openSession({ master: server.url, "log-level": args["log-level"], "log-format": args["log-format"] }, io);
      const created = await submitTasks(session, tasks, { name: "local" });
      const report = await withInterrupt(io, (signal) => watchAndReport(session, created.job_id, { pollMs: interval, junitPath: args.junit, signal }));
      // The links above die with this master: show the failures' output here.
      await printFailureOutput(server.master, created.job_id, process.stdout);
      if (!args["data-dir"]) ctx.log.info("the master's logs and artifacts are removed now; pass --data-dir DIR to keep them");
      process.exitCode = exitCodeOfReport(report);
    } finally {
      await slaves.stop();
      await server.stop(1_000);
      if (!args["data-dir"]) rmSync(dataDir, { recursive: true, force: true });
    }
  },
});

/** Lines of each failed attempt's output shown at the end of `dt local`. */
const TAIL_LINES = 15;

async function printFailureOutput(master: Master, jobId: string, out: NodeJS.WritableStream): Promise<void> {
  const { tasks } = await master.jobTasks(jobId);
  for (const task of tasks) {
    for (const a of task.attempts) {
      if (a.state === "SUCCEEDED" || a.state === "QUEUED" || a.state === "CANCELED") continue;
      for (const stream of ["stdout", "stderr"] as const) {
        const log = await master.readLog(jobId, task.task_id, a.attempt, stream, 0);
        const lines = new TextDecoder().decode(log.bytes).trimEnd().split("\n").filter((l) => l !== "");
        if (lines.length === 0) continue;
        out.write(`--- ${task.description}, attempt ${a.attempt}, ${stream} (last ${Math.min(lines.length, TAIL_LINES)} lines) ---\n`);
        out.write(`${lines.slice(-TAIL_LINES).join("\n")}\n`);
      }
    }
  }
}
