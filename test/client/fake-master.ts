import { Hono } from "hono";
import type { AttemptView, JobCaseView, JobCounts, JobCreated, JobRequest, JobSummary, TaskView } from "../../src/master/protocol.ts";

/** How a job moves: GET /jobs/:job returns frames[0], frames[1], … and then the last one for good. */
export interface ScriptedJob {
  frames: JobSummary[];
  tasks: TaskView[];
  /** What GET /jobs/:job/tasks?trouble_since= answers while frames[i] is current; none: no trouble to tell. */
  troubles?: TaskView[][];
  /** What GET /jobs/:job/cases pages through (cursor = index of the next case); none: the route answers 404, as a master from before cases. */
  cases?: JobCaseView[];
}

interface StoredJob extends ScriptedJob {
  polls: number;
  canceled: boolean;
}

export interface RecordedRequest {
  method: string;
  /** Path and query, as sent. */
  path: string;
  body: string;
  authorization: string | null;
}

/**
 * An in-memory stand-in for the master's native API (protocol.ts), on a real
 * socket on port 0: the client commands are tested against it while the
 * real master is being built. Jobs follow scripts; every request is recorded.
 *
 * @example
 *   const master = await FakeMaster.start();
 *   master.onSubmit = (req) => ({ frames: [summaryOf(req.job_id!, { total_tasks: 1, finished: 1, succeeded: 1 })], tasks: [] });
 */
export class FakeMaster {
  readonly requests: RecordedRequest[] = [];
  readonly submitted: JobRequest[] = [];
  readonly jobs = new Map<string, StoredJob>();
  /** Bytes served at /api/v1/artifacts/:key. */
  readonly artifacts = new Map<string, Uint8Array | string>();
  /** What a submitted job does; by default it finishes at once with every task passed. */
  onSubmit: (req: JobRequest) => ScriptedJob = (req) => ({
    frames: [summaryOf(req.job_id!, { total_tasks: req.tasks.length, finished: req.tasks.length, succeeded: req.tasks.length })],
    tasks: [],
  });
  /** Called on every poll of a job, with the number of the poll (1-based); for tests that act mid-watch. */
  onPoll: (jobId: string, poll: number) => void = () => {};
  /** Answer this many next polls with a 503, as a master restarting would. */
  failPolls = 0;

  private constructor(
    private readonly server: ReturnType<typeof Bun.serve>,
    readonly url: string,
  ) {}

  static async start(): Promise<FakeMaster> {
    let self: FakeMaster | undefined;
    const server = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: (req) => self!.app.fetch(req) });
    self = new FakeMaster(server, `http://127.0.0.1:${server.port}`);
    return self;
  }

  addJob(jobId: string, script: ScriptedJob): void {
    this.jobs.set(jobId, { ...script, polls: 0, canceled: false });
  }

  /** The job's summary as it stands, without counting a poll. */
  current(jobId: string): JobSummary {
    const job = this.jobs.get(jobId)!;
    return job.frames[Math.min(Math.max(job.polls - 1, 0), job.frames.length - 1)]!;
  }

  async stop(): Promise<void> {
    await this.server.stop(true);
  }

  private readonly app = new Hono()
    .use(async (c, next) => {
      const url = new URL(c.req.url);
      this.requests.push({ method: c.req.method, path: url.pathname + url.search, body: await c.req.raw.clone().text(), authorization: c.req.header("authorization") ?? null });
      await next();
    })
    .post("/api/v1/jobs", async (c) => {
      const req = (await c.req.json()) as JobRequest;
      this.submitted.push(req);
      const jobId = req.job_id!;
      this.addJob(jobId, this.onSubmit(req));
      const created: JobCreated = { job_id: jobId, url: `/job/${jobId}`, tasks: req.tasks.length };
      return c.json(created, 201);
    })
    .get("/api/v1/jobs", (c) => {
      const user = c.req.query("user");
      const name = c.req.query("name");
      const limit = Number(c.req.query("limit") ?? 1000);
      const jobs = [...this.jobs.keys()]
        .map((id) => this.current(id))
        .filter((s) => (!user || s.user === user) && (!name || s.name === name))
        .slice(0, limit);
      return c.json({ jobs });
    })
    .get("/api/v1/jobs/:job", (c) => {
      const jobId = c.req.param("job");
      const job = this.jobs.get(jobId);
      if (!job) return c.json({ error: `no job ${jobId}`, code: "not_found" }, 404);
      if (this.failPolls > 0) {
        this.failPolls--;
        return c.json({ error: "database is restarting", code: "unreachable" }, 503);
      }
      job.polls++;
      this.onPoll(jobId, job.polls);
      return c.json(this.current(jobId));
    })
    .get("/api/v1/jobs/:job/tasks", (c) => {
      const job = this.jobs.get(c.req.param("job"));
      if (!job) return c.json({ error: `no job ${c.req.param("job")}`, code: "not_found" }, 404);
      if (c.req.query("trouble_since") !== undefined) {
        const frame = Math.min(Math.max(job.polls - 1, 0), job.frames.length - 1);
        return c.json({ tasks: job.troubles?.[Math.min(frame, job.troubles.length - 1)] ?? [] });
      }
      return c.json({ tasks: job.tasks });
    })
    .get("/api/v1/jobs/:job/cases", (c) => {
      const jobId = c.req.param("job");
      const job = this.jobs.get(jobId);
      if (!job?.cases) return c.json({ error: "not found", code: "not_found" }, 404);
      const status = c.req.query("status") ?? "all";
      const limit = Number(c.req.query("limit") ?? 1000);
      const from = Number(c.req.query("cursor") ?? 0);
      const matches = (v: JobCaseView) => status === "all" || v.status === status || (status === "failed" && v.status === "crashed");
      const picked: JobCaseView[] = [];
      let i = from;
      for (; i < job.cases.length && picked.length < limit; i++) if (matches(job.cases[i]!)) picked.push(job.cases[i]!);
      const more = job.cases.slice(i).some(matches);
      return c.json({ job_id: jobId, cases: picked, next_cursor: more ? String(i) : null });
    })
    .post("/api/v1/jobs/:job/cancel", (c) => {
      const jobId = c.req.param("job");
      const job = this.jobs.get(jobId);
      if (!job) return c.json({ error: `no job ${jobId}`, code: "not_found" }, 404);
      const now = this.current(jobId);
      const left = now.counts.total_tasks - now.counts.finished;
      const canceled: JobSummary = {
        ...now,
        status: "finished",
        canceled_at: now.created_at + 1000,
        estimated_remaining_sec: null,
        counts: { ...now.counts, queued: 0, running: 0, canceled: now.counts.canceled + left, finished: now.counts.total_tasks },
      };
      job.frames = [canceled];
      job.polls = 1;
      job.canceled = true;
      return c.json(canceled);
    })
    .get("/api/v1/artifacts/:key", (c) => {
      const body = this.artifacts.get(c.req.param("key"));
      if (body === undefined) return c.json({ error: `no artifact ${c.req.param("key")}`, code: "not_found" }, 404);
      return c.body(typeof body === "string" ? body : new Uint8Array(body));
    });
}

/** A JobSummary with every count 0 but the ones given. */
export function summaryOf(jobId: string, counts: Partial<JobCounts> & { total_tasks: number }, extra: Partial<JobSummary> = {}): JobSummary {
  const full: JobCounts = { queued: 0, running: 0, succeeded: 0, failed: 0, flaky: 0, canceled: 0, finished: 0, retries: 0, requeues: 0, ...counts };
  return {
    job_id: jobId,
    user: "alice",
    name: null,
    priority: 0,
    created_at: 1_700_000_000_000,
    canceled_at: null,
    status: full.finished === full.total_tasks ? "finished" : "running",
    counts: full,
    estimated_remaining_sec: null,
    url: `/job/${jobId}`,
    ...extra,
  };
}

/** A finished attempt; links point at the fake's artifact route when keys are given. */
export function attemptOf(attempt: number, state: AttemptView["state"], extra: Partial<AttemptView> = {}): AttemptView {
  return {
    attempt,
    retry: attempt,
    state,
    slave: "slave-1",
    exit_code: state === "SUCCEEDED" ? 0 : state === "FAILED" ? 1 : null,
    message: null,
    queued_at: 1_700_000_000_000,
    leased_at: 1_700_000_001_000,
    fetch_done_at: 1_700_000_001_500,
    map_done_at: 1_700_000_001_600,
    command_start_at: 1_700_000_002_000,
    command_end_at: 1_700_000_004_500,
    upload_done_at: 1_700_000_005_000,
    reported_at: 1_700_000_005_100,
    stdout_link: null,
    stderr_link: null,
    artifact_archive_link: null,
    stdout_master_link: null,
    stderr_master_link: null,
    artifact_archive_master_link: null,
    artifact_missing: false,
    cache: null,
    ...extra,
  };
}

export function taskOf(taskId: string, description: string, group: TaskView["group"], attempts: AttemptView[]): TaskView {
  return { task_id: taskId, description, group, max_retries: Math.max(0, attempts.length - 1), timeout: 0, dimensions: {}, attempts };
}

/** A case of a job as GET /jobs/:job/cases gives it. */
export function caseOf(binary: string, suite: string, name: string, status: JobCaseView["status"], extra: Partial<JobCaseView> = {}): JobCaseView {
  const failing = status === "failed" || status === "crashed" || status === "flaky";
  return { binary, suite, name, status, task_id: "h.0", attempt: 0, duration_ms: 12, message: null, file: null, line: null, runs: 1, failures: failing ? 1 : 0, ...extra };
}

/** JobCaseCounts of a list of cases, counted as the master does (failed includes crashed). */
export function caseCountsOf(cases: readonly JobCaseView[]) {
  const count = (...s: string[]) => cases.filter((c) => s.includes(c.status)).length;
  return { total: cases.length, passed: count("passed"), failed: count("failed", "crashed"), flaky: count("flaky"), skipped: count("skipped") };
}
