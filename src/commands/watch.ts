import { defineCommand } from "citty";
import { DtError } from "../common/errors.ts";
import { ioFrom, withInterrupt } from "../client/io.ts";
import { resolveJobId } from "../client/job-id.ts";
import { type WatchReport, watchAndReport } from "../client/report.ts";
import { openSession } from "../client/session.ts";
import { DEFAULT_POLL_MS } from "../client/watch.ts";
import { logArgs } from "./context.ts";
import { EXIT } from "./exit-codes.ts";

/** dist_test's client exited 1 when Ctrl-C stopped a watch; CI scripts may test for it. */
export const EXIT_WATCH_INTERRUPTED = 1;

/** Flags of every command that talks to the master. */
export const clientArgs = {
  master: { type: "string", description: "URL of the master (or DIST_TEST_MASTER, or master under [dist_test] in the config)" },
  ...logArgs,
} as const;

/** Flags of every command that watches a job. */
export const watchArgs = {
  "poll-interval": {
    type: "string",
    // The master tells of changes at once; this paces the rest.
    description: "Seconds between progress lines off a terminal (between redraws on one), and between polls of a master without the job long-poll",
    default: String(DEFAULT_POLL_MS / 1000),
  },
  junit: { type: "string", description: "Write a JUnit XML report of the finished job to this file" },
} as const;

export function pollMs(text: string): number {
  const sec = Number(text);
  if (!Number.isFinite(sec) || sec <= 0) throw new DtError("invalid_input", `--poll-interval: ${JSON.stringify(text)} is not a positive number of seconds`);
  return sec * 1000;
}

/** 0 when every group passed (flaky ones included), 88 when any failed or was canceled, 1 when Ctrl-C stopped the watch. */
export function exitCodeOfReport(report: WatchReport): number {
  if (report.outcome === "interrupted") return EXIT_WATCH_INTERRUPTED;
  return report.outcome === "passed" ? EXIT.ok : EXIT.testsFailed;
}

export default defineCommand({
  meta: { name: "watch", description: "Follow a job until it finishes; exit 0 if every task passed, 88 if any failed" },
  args: {
    job: { type: "positional", required: false, description: "Job id (default: the last one submitted from here)" },
    ...watchArgs,
    ...clientArgs,
  },
  async run({ args, data }) {
    const io = ioFrom(data);
    const session = openSession(args, io);
    const jobId = resolveJobId(args.job, session.jobPath, session.log);
    const report = await withInterrupt(io, (signal) => watchAndReport(session, jobId, { pollMs: pollMs(args["poll-interval"]), junitPath: args.junit, signal }));
    io.setExitCode(exitCodeOfReport(report));
  },
});
