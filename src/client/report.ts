import { mkdirSync, writeFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { DtError } from "../common/errors.ts";
import type { JobSummary, TaskView } from "../master/protocol.ts";
import { caseCounts, caseReport, readAllCases, readListedCases } from "./cases.ts";
import { FailureFeed } from "./failures.ts";
import { junitXml } from "./junit.ts";
import { type LinkPolicy, masterLinks } from "./links.ts";
import { ProgressPrinter } from "./progress.ts";
import type { ClientSession } from "./session.ts";
import { type JobOutcome, failureReport, flagReport, jobOutcome, reuseReport } from "./summary.ts";
import { DEFAULT_HOLD_MS, type WatchBackoff, watchJob } from "./watch.ts";

export interface WatchReportOptions {
  pollMs: number;
  /** Write JUnit XML here once the job is finished. */
  junitPath?: string;
  signal: AbortSignal;
  backoff?: WatchBackoff;
  /** Where links in the report point; default the master's own. */
  links?: LinkPolicy;
}

export type WatchReport =
  | { outcome: JobOutcome; summary: JobSummary; tasks: TaskView[] | undefined }
  | { outcome: "interrupted"; summary: JobSummary | undefined; tasks: undefined };

/**
 * Watches a job to its end (shared by submit, watch and loop), then prints
 * the failed, canceled and flaky groups with their log links, then (for a
 * job whose tasks reported test cases) the failed and flaky cases by name
 * and the case counts, then what reuse saved (when the job reused any
 * task), and writes the JUnit report if asked. Ctrl-C stops the watch, not the job.
 */
export async function watchAndReport(session: ClientSession, jobId: string, options: WatchReportOptions): Promise<WatchReport> {
  const { io, api, log } = session;
  const progress = new ProgressPrinter(io.stdout, { tty: io.isTTY, color: io.color, startMs: io.clock.now(), minIntervalMs: options.pollMs });
  // On a terminal the line shows elapsed time: hear from the master at least every poll interval to redraw it.
  const holdMs = io.isTTY ? options.pollMs : DEFAULT_HOLD_MS;
  const links = options.links ?? masterLinks(api);
  const failures = new FailureFeed(api, jobId, (task, attempt) => links.attempt(task, attempt), log, options.pollMs);
  const result = await watchJob({ api, jobId, clock: io.clock, sleep: io.sleep, signal: options.signal, pollMs: options.pollMs, holdMs, progress, failures, log, backoff: options.backoff });
  if (result.kind === "interrupted") {
    log.warn(`Interrupted; job ${jobId} goes on without you: dt watch ${jobId} to follow it again, dt cancel ${jobId} to stop it`);
    return { outcome: "interrupted", summary: result.summary, tasks: undefined };
  }
  const summary = result.summary;
  const c = summary.counts;
  // Cases only when the master counted some: a job without them (or a master from before them) reports as it always did.
  const listed = await readListedCases(api, summary, log);
  const troubles = c.failed + c.flaky + c.canceled + (c.quarantined ?? 0);
  const needTasks = troubles > 0 || options.junitPath !== undefined || listed !== undefined;
  const tasks = needTasks ? await api.jobTasks(jobId) : undefined;
  if (tasks) await links.prepare?.(tasks, listed ? [...listed.failed, ...listed.flaky] : []);
  const link = (l: string) => links.link(l);
  if (tasks && troubles > 0) io.stdout.write(`${failureReport(summary, tasks, link).join("\n")}\n`);
  if (tasks && listed) {
    const moreAt = (status: string) => `${options.junitPath !== undefined ? `the JUnit report ${options.junitPath} has them all, or ` : ""}${link(`/api/v1/jobs/${encodeURIComponent(jobId)}/cases?status=${status}`)}`;
    io.stdout.write(`${caseReport(listed, tasks, link, moreAt).join("\n")}\n`);
  }
  // Only when the job reused something: the lines of a job without reuse are as they were.
  const reuse = reuseReport(summary);
  if (reuse.length > 0) io.stdout.write(`${reuse.join("\n")}\n`);
  const flags = flagReport(summary);
  if (flags.length > 0) io.stdout.write(`${flags.join("\n")}\n`);
  if (options.junitPath !== undefined && tasks) {
    const cases = caseCounts(summary) ? await readAllCases(api, jobId).catch((err: Error) => {
      // The job's tasks are known: a file of them beats none, and the warning says what it lacks.
      log.warn(`the JUnit report lists tasks, not test cases: reading the cases of job ${jobId} failed: ${err.message}`);
      return [];
    }) : [];
    writeJunit(options.junitPath, junitXml(summary, tasks, link, cases));
  }
  return { outcome: jobOutcome(summary), summary, tasks };
}

function writeJunit(path: string, xml: string): void {
  const target = resolve(path);
  try {
    mkdirSync(dirname(target), { recursive: true });
    writeFileSync(target, xml);
  } catch (err) {
    throw new DtError("invalid_input", `cannot write the JUnit report to ${target}: ${(err as Error).message}`, { cause: err });
  }
}
