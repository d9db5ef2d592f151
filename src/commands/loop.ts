import { defineCommand } from "citty";
import { DtError } from "../common/errors.ts";
import { ioFrom, withInterrupt } from "../client/io.ts";
import { loopBaseTask, loopResultLine, loopTasks } from "../client/loop.ts";
import { watchAndReport } from "../client/report.ts";
import { openSession } from "../client/session.ts";
import { submitTasks } from "../client/submit.ts";
import { ignoredKeysWarning } from "../client/tasks-file.ts";
import { exitCodeOfReport, clientArgs, pollMs, watchArgs } from "./watch.ts";
import type { ArgvPolicy } from "./argv.ts";

export const argvPolicy: ArgvPolicy = {
  noDashDash: "does not pass extra arguments to the test: the command is fixed in the manifest; archive one whose command has the arguments",
};

export default defineCommand({
  meta: { name: "loop", description: "Run one task N times as one job, to measure how flaky it is; exit 88 if any run failed" },
  args: {
    target: { type: "positional", required: true, description: "A tasks.json holding one task, or a manifest digest from dt archive" },
    count: { type: "string", alias: "n", required: true, description: "How many times to run it" },
    "max-retries": { type: "string", description: "Retries of each run (default: the task's, else 0)" },
    timeout: { type: "string", description: "Seconds before a run is killed (default: the task's, else none)" },
    description: { type: "string", description: "Description of the runs, numbered .0, .1, … (default: the task's, or the digest's first 12 digits)" },
    name: { type: "string", description: "Prefix of the job id" },
    wait: { type: "boolean", default: true, description: "Watch the job until it finishes", negativeDescription: "Submit and return" },
    ...watchArgs,
    ...clientArgs,
  },
  async run({ args, data }) {
    // TARGET may come after -- (POSIX); anything more would be arguments for the test.
    if ((args._ as string[]).length > 1) {
      throw new DtError("invalid_input", "dt loop does not pass extra arguments to the test: the command is fixed in the manifest; archive one whose command has the arguments");
    }
    const io = ioFrom(data);
    const session = openSession(args, io);
    const interval = pollMs(args["poll-interval"]);
    const { task, ignoredKeys } = loopBaseTask(args.target, {
      maxRetries: optionalNumber(args["max-retries"], "--max-retries", true),
      timeout: optionalNumber(args.timeout, "--timeout", false),
      description: args.description,
    });
    if (ignoredKeys.length > 0) session.log.warn(ignoredKeysWarning(args.target, ignoredKeys));
    const tasks = loopTasks(task, Number(args.count));
    const created = await submitTasks(session, tasks, { name: args.name });
    if (!args.wait) {
      io.stdout.write(`${created.job_id}\n`);
      return;
    }
    const report = await withInterrupt(io, (signal) => watchAndReport(session, created.job_id, { pollMs: interval, junitPath: args.junit, signal }));
    if (report.outcome !== "interrupted") io.stdout.write(`${loopResultLine(report.summary)}\n`);
    io.setExitCode(exitCodeOfReport(report));
  },
});

function optionalNumber(text: string | undefined, flag: string, whole: boolean): number | undefined {
  if (text === undefined) return undefined;
  const n = Number(text);
  if (text.trim() === "" || !Number.isFinite(n) || n < 0 || (whole && !Number.isSafeInteger(n))) {
    throw new DtError("invalid_input", `${flag}: ${JSON.stringify(text)} is not a non-negative ${whole ? "integer" : "number"}`);
  }
  return n;
}
