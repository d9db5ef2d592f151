/**
 * GET tests/flaky: the cases with the highest flake rate over a window of
 * jobs (cases/flaky-cases.ts), and the reading of its query, which the
 * /flaky page shares. An unknown or malformed parameter is a 400 naming it
 * and what to pass.
 */
import { Hono } from "hono";
import { DtError } from "../../common/errors.ts";
import { parseSince } from "../../common/units.ts";
import type { FlakyCaseStats, FlakyQuery } from "../cases/flaky-cases.ts";
import type { Master } from "../master.ts";
import type { FlakyCase, FlakyCases } from "../protocol.ts";
import { checkKnown, limitOf } from "./case-api.ts";

/** The window when none is asked for: a week holds a few runs of every nightly job and many of every pre-commit one. */
export const DEFAULT_FLAKY_SINCE = "7d";
/** Cases one answer lists: 50 by default (a screenful of the worst), 1,000 at most (each costs a lookup of its latest failure). */
export const FLAKY_PAGE = { default: 50, max: 1_000 } as const;
/** The largest min_runs taken: more jobs than any window holds, so any larger value means the same (no case). */
const MAX_MIN_RUNS = 1_000_000;
/** A task's description, which names a binary, is at most 255 characters. */
const MAX_BINARY_CHARS = 255;

const PARAMETERS = ["since", "min_runs", "limit", "binary"] as const;

/** The question of a GET tests/flaky (or /flaky page) query, checked; `now` is the master's clock, which a duration counts back from. */
export function readFlakyQuery(query: Record<string, string>, now: number): FlakyQuery {
  checkKnown(query, PARAMETERS);
  const since = parseSince(query.since ?? DEFAULT_FLAKY_SINCE, "since", now);
  let minRuns = 1;
  if (query.min_runs !== undefined) {
    minRuns = Number(query.min_runs);
    if (!/^\d{1,7}$/.test(query.min_runs) || minRuns < 1 || minRuns > MAX_MIN_RUNS) {
      throw new DtError("invalid_input", `min_runs: must be an integer from 1 to ${MAX_MIN_RUNS} (the jobs a case must have run in), got ${JSON.stringify(query.min_runs.slice(0, 40))}`);
    }
  }
  const binary = query.binary;
  if (binary !== undefined && (binary === "" || binary.length > MAX_BINARY_CHARS)) {
    throw new DtError("invalid_input", `binary: must be a test binary's name (a task's description) of 1 to ${MAX_BINARY_CHARS} characters, got ${binary.length}`);
  }
  return { since, minRuns, limit: limitOf(query.limit, FLAKY_PAGE), ...(binary === undefined ? {} : { binary }) };
}

/** A link on this master, absolute (as a job's `url`): `base` is the master's public URL. */
function masterLink(base: string, path: string, query: Record<string, string | number>): string {
  return `${base.replace(/\/+$/, "")}/${path}?${new URLSearchParams(Object.entries(query).map(([k, v]): [string, string] => [k, String(v)]))}`;
}

/** One case of the answer; its links are the master's (`publicUrl`): the last failure's log page and the case's history. */
export function flakyCaseView(c: FlakyCaseStats, publicUrl: string): FlakyCase {
  const f = c.lastFailure;
  return {
    binary: c.binary, suite: c.suite, name: c.name, jobs: c.jobs, runs: c.runs, failures: c.failures, flaky: c.flaky, flake_rate: c.flakeRate,
    last_failure: f && {
      job_id: f.jobId, task_id: f.taskId, attempt: f.attempt, status: f.status, reported_at: f.reportedAt, message: f.message,
      log_link: masterLink(publicUrl, "view_log", { job_id: f.jobId, task_id: f.taskId, attempt: f.attempt, log: "stdout" }),
    },
    history_link: masterLink(publicUrl, "api/v1/tests/history", { binary: c.binary, suite: c.suite, case: c.name }),
  };
}

/** Answers `query` from the master's history: what the API returns and the page shows. */
export async function flakyCases(master: Master, query: FlakyQuery): Promise<FlakyCases> {
  const rows = await master.deps.repo.flakyCases(query);
  return { since: query.since, min_runs: query.minRuns, binary: query.binary ?? null, cases: rows.map((r) => flakyCaseView(r, master.deps.publicUrl)) };
}

/** GET tests/flaky, to mount under /api/v1. */
export function flakyRoutes(master: Master): Hono {
  const app = new Hono();
  app.get("/tests/flaky", async (c) => c.json(await flakyCases(master, readFlakyQuery(c.req.query(), master.deps.clock.now()))));
  return app;
}
