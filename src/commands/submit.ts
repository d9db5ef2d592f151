import { defineCommand } from "citty";
import { resolve } from "node:path";
import { DtError } from "../common/errors.ts";
import { fetchResults } from "../client/fetch.ts";
import { ioFrom, withInterrupt } from "../client/io.ts";
import { watchAndReport } from "../client/report.ts";
import { openSession } from "../client/session.ts";
import { submitTasks } from "../client/submit.ts";
import { ignoredKeysWarning, readTasksFile } from "../client/tasks-file.ts";
import { reuseArgs, reuseOf } from "./reuse-args.ts";
import { exitCodeOfReport, clientArgs, pollMs, watchArgs } from "./watch.ts";

/** dist_test's default output directory for fetched results. */
export const DEFAULT_RESULTS_DIR = "dist-test-results";

export default defineCommand({
  meta: { name: "submit", description: "Submit the tasks of a tasks.json as one job, then watch it (exit 0 if every task passed, 88 if any failed)" },
  args: {
    tasks: { type: "positional", required: true, description: 'JSON file {"tasks": [{"isolate_hash", "description", ...}]}' },
    name: { type: "string", alias: "n", description: "Prefix of the job id: NAME.<user>.<unix time>.<pid>" },
    wait: { type: "boolean", default: true, description: "Watch the job until it finishes", negativeDescription: "Submit and return; watch later with dt watch" },
    "output-dir": { type: "string", alias: "d", default: DEFAULT_RESULTS_DIR, description: "Where -l and -a put results (dist_test's -d/--output-dir)" },
    logs: { type: "boolean", alias: "l", default: false, description: "After the watch, fetch the logs of finished attempts" },
    artifacts: { type: "boolean", alias: "a", default: false, description: "After the watch, fetch and extract the artifact archives" },
    priority: { type: "string", description: "Job priority; higher runs first within the fair share (default 0)" },
    ...reuseArgs,
    ...watchArgs,
    ...clientArgs,
  },
  async run({ args, data, rawArgs }) {
    const io = ioFrom(data);
    const reuse = reuseOf(rawArgs, "dt submit");
    const priority = args.priority === undefined ? undefined : Number(args.priority);
    if (priority !== undefined && !Number.isSafeInteger(priority)) throw new DtError("invalid_input", `--priority: ${JSON.stringify(args.priority)} is not an integer`);
    const interval = pollMs(args["poll-interval"]);
    // Read before the master is looked for: a mistake in the file is reported whatever else is missing.
    // As given, so that a syntax error reads tasks.json:3:17 as an editor opens it.
    const file = readTasksFile(args.tasks);
    const session = openSession(args, io);
    const { log } = session;
    if (file.ignoredKeys.length > 0) log.warn(ignoredKeysWarning(args.tasks, file.ignoredKeys));

    const created = await submitTasks(session, file.tasks, { name: args.name, priority, reuse });
    if (!args.wait) {
      if (args.logs || args.artifacts) log.warn(`-l/-a do nothing with --no-wait; fetch later with dt fetch ${created.job_id}`);
      io.stdout.write(`${created.job_id}\n`);
      return;
    }
    const report = await withInterrupt(io, (signal) => watchAndReport(session, created.job_id, { pollMs: interval, junitPath: args.junit, signal }));
    if (report.outcome !== "interrupted" && (args.logs || args.artifacts)) {
      const tasks = report.tasks ?? (await session.api.jobTasks(created.job_id));
      const dir = resolve(args["output-dir"]);
      try {
        const fetched = await fetchResults({ api: session.api, tasks, dir, logs: args.logs, artifacts: args.artifacts, failedOnly: false, concurrency: io.downloadConcurrency, log });
        log.info(`Fetched ${fetched.downloads} files into ${dir}`);
      } catch (err) {
        // Failed tests outrank a failed download: CI must see 88.
        if (report.outcome === "passed") throw err;
        log.error((err as Error).message);
      }
    }
    io.setExitCode(exitCodeOfReport(report));
  },
});
