/**
 * What a job page shows, read as cheaply as a 10,000-task job allows: the
 * rows of every task (rows.ts), kept while nothing of the job changes; the
 * full tasks and attempts of only the rows one page shows.
 *
 * A view reads the job's attempts once per change of the job (one sliced
 * read, as the summary's), and its task names once per job: tasks never
 * change after submit. The header's counts come from the same rows as the
 * filters' (row-query.ts), the reuse line from the API's rule (jobCounts)
 * over the same attempts.
 */
import { yieldToEventLoop } from "../../common/concurrency.ts";
import { lastChangeAt, readAllAttemptHeads, readAllTaskHeads, readJobFlags } from "../../master/jobs/status-cache.ts";
import { groupAttempts, jobCounts } from "../../master/jobs/status.ts";
import type { Master } from "../../master/master.ts";
import type { Job } from "../../master/model.ts";
import type { JobCaseCounts, JobCounts, JobFlagView, TaskView } from "../../master/protocol.ts";
import { type RowCounts, countRows } from "./row-query.ts";
import { type JobRow, type RowState, type TaskHead, buildRows, countStates, shownIndexes, taskHead } from "./rows.ts";
import { SizedLru } from "./sized-lru.ts";

/** A job's rows and header as of one change version. */
export interface JobPageState {
  version: string;
  job: Job;
  rows: JobRow[];
  rowCounts: RowCounts;
  /** Rows by state, for the progress bar. */
  stateCounts: Record<RowState, number>;
  /** The API's counts over the same attempts: retries, requeues and the reuse line. */
  counts: JobCounts;
  cases: JobCaseCounts;
  flags: JobFlagView[];
  /** Its last report (or cancel): the job's end once finished. */
  lastChangeAt: number;
  tasks: number;
  attempts: number;
  /** Every row is in a final state: the page will change no more. */
  finished: boolean;
  /** When it was read and what the read took, in this process's monotonic ms: a cost, not a moment of the job's, so not the injected clock. */
  readAt: number;
  readMs: number;
}

/** What the cache keeps at most, of the least recently viewed jobs first; the newest job's is always kept, however big. */
export interface JobPageLimits {
  /** Jobs whose rows are kept: the pages people have open. */
  jobs: number;
  /** Rows kept, over all jobs: about 200 bytes each (a 100,000-task job's are ~20 MB), so 20 huge jobs' pages do not hold 400 MB. */
  rows: number;
  /** Task names kept, over all jobs: about 100 bytes each. */
  heads: number;
}

export const DEFAULT_JOB_PAGE_LIMITS: JobPageLimits = { jobs: 20, rows: 400_000, heads: 400_000 };
/** A job's rows are read again at most once per this many times what their last read took: a page costs the master at most ~1/READ_SPACING of a core per job. */
const READ_SPACING = 5;
/** Reads cheaper than this are not spaced: a small job's page is always current. */
const SPACED_READ_MS = 50;
/** Tasks whose index gap still reads as one range: fewer, larger reads beat one read per row. */
const RANGE_GAP = 32;

export class JobPageCache {
  private readonly states: SizedLru<JobPageState>;
  private readonly heads: SizedLru<TaskHead[]>;
  /** Each job's read in progress, and the version it reads. */
  private readonly reading = new Map<string, { version: string; state: Promise<JobPageState | null> }>();

  constructor(
    private readonly master: Master,
    limits: JobPageLimits = DEFAULT_JOB_PAGE_LIMITS,
  ) {
    this.states = new SizedLru({ entries: limits.jobs, size: limits.rows });
    this.heads = new SizedLru({ entries: Number.POSITIVE_INFINITY, size: limits.heads });
  }

  /**
   * The job's rows as of now, or null for a job the master does not know.
   * Rows whose read took SPACED_READ_MS or more, read less than
   * READ_SPACING times that ago, stand for now even when the job changed:
   * a 100,000-task job's read takes a second or two, and a page open on it
   * while it runs must not keep the master reading it back to back. So a
   * big job's rows lag by up to a few seconds; a small job's are current.
   * For the same reason a view of an expensive job (or of one not read
   * yet) while its read runs waits for that read, whatever version it
   * reads: each open page's poll would otherwise start one more.
   */
  async get(jobId: string): Promise<JobPageState | null> {
    const version = this.master.changeVersion(jobId);
    const kept = this.states.get(jobId);
    const expensive = kept !== undefined && kept.readMs >= SPACED_READ_MS;
    const fresh = kept && (kept.version === version || (expensive && performance.now() - kept.readAt < READ_SPACING * kept.readMs));
    if (kept && fresh) return kept;
    const pending = this.reading.get(jobId);
    if (pending && (pending.version === version || expensive || !kept)) return pending.state;
    const entry = { version, state: this.read(jobId, version) };
    this.reading.set(jobId, entry);
    // A cheap job's newer read may have replaced this one in the map: only its own entry is removed.
    void entry.state.finally(() => this.reading.get(jobId) === entry && this.reading.delete(jobId)).catch(() => {});
    return entry.state;
  }

  private async read(jobId: string, version: string): Promise<JobPageState | null> {
    const { repo } = this.master.deps;
    const started = performance.now();
    const job = await repo.getJob(jobId);
    if (!job) return null;
    const heads = await this.taskHeads(jobId);
    const attempts = await readAllAttemptHeads(repo, jobId);
    await yieldToEventLoop();
    const groups = groupAttempts(attempts);
    const rows = buildRows(heads, groups, job);
    const rowCounts = countRows(rows);
    const state: JobPageState = {
      version, job, rows, rowCounts, stateCounts: countStates(rows), counts: jobCounts(groups, job), cases: await repo.jobCaseCounts(jobId), flags: await readJobFlags(repo, jobId),
      lastChangeAt: lastChangeAt(job, attempts), tasks: heads.length, attempts: attempts.length, finished: rowCounts.finished === rowCounts.total,
      readAt: performance.now(), readMs: performance.now() - started,
    };
    // A read of an older version can end after a newer one's (a big job's read takes seconds, a change can start another): the newer rows stay, or a page would go back in time.
    const kept = this.states.get(jobId);
    if (kept && kept.readAt - kept.readMs > started) return kept;
    this.states.set(jobId, state, rows.length);
    // Every attempt was read to make the rows, which are all that is kept.
    this.master.reclaimer.after(attempts.length);
    return state;
  }

  private async taskHeads(jobId: string): Promise<TaskHead[]> {
    const kept = this.heads.get(jobId);
    if (kept) return kept;
    const heads = (await readAllTaskHeads(this.master.deps.repo, jobId)).map(taskHead);
    // Another read of the job (at another version) may have kept them meanwhile: counted twice, the names would evict others early, for good.
    const meanwhile = this.heads.get(jobId);
    if (meanwhile) return meanwhile;
    this.heads.set(jobId, heads, heads.length);
    return heads;
  }
}

/** Sorted indexes as [from, to) ranges, near ones merged. */
export function indexRanges(indexes: readonly number[]): { from: number; to: number }[] {
  const sorted = [...indexes].sort((a, b) => a - b);
  const ranges: { from: number; to: number }[] = [];
  for (const i of sorted) {
    const last = ranges[ranges.length - 1];
    if (last && i - last.to <= RANGE_GAP) last.to = Math.max(last.to, i + 1);
    else ranges.push({ from: i, to: i + 1 });
  }
  return ranges;
}

/** The full tasks (with attempts and links) of the rows a page shows, by task index: one pair of reads per range of near indexes. */
export async function readRowTasks(master: Master, job: Job, rows: readonly JobRow[]): Promise<Map<number, TaskView>> {
  const wanted = new Set(rows.flatMap(shownIndexes));
  const views = new Map<number, TaskView>();
  for (const range of indexRanges([...wanted])) {
    for (const [index, view] of await master.taskViewsIn(job, range, (i) => wanted.has(i))) views.set(index, view);
  }
  return views;
}
