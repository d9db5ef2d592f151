import type { CaseSelection } from "../cases/case-filter.ts";
/**
 * The in-process queue of attempts waiting for a slave, in the scheduler's
 * order:
 *   1. fair share: the user with the fewest running tasks (per unit of
 *      weight), then that user's job with the fewest running tasks — so one
 *      big job cannot starve everyone (dist_test left this as a TODO);
 *   2. retries before first attempts;
 *   3. higher priority first;
 *   4. longest expected duration first (from history), so stragglers start early;
 *   5. then age.
 * Only items whose dimensions a slave has are given to it.
 */

export interface QueueItem {
  jobId: string;
  taskId: string;
  attempt: number;
  /** The attempt's retry count (failed tests so far), handed on to its lease. */
  retry: number;
  user: string;
  priority: number;
  isRetry: boolean;
  /** From duration history; 0 when unknown. */
  expectedMs: number;
  /** Insertion order: the last tie-breaker (age). */
  seq: number;
  /** When the attempt was queued; NO_RESOURCE is decided from it. */
  queuedAt: number;
  dimensions: Record<string, string>;
  /** The attempt's own cases (a retry's failed ones); null: its task's. */
  caseSelection: CaseSelection | null;
}

/** True when a slave with `slaveDims` may run an item needing `itemDims`. */
export function dimensionsMatch(itemDims: Record<string, string>, slaveDims: Record<string, string>): boolean {
  for (const [k, v] of Object.entries(itemDims)) if (slaveDims[k] !== v) return false;
  return true;
}

/** Lower sorts first. */
function compareItems(a: QueueItem, b: QueueItem): number {
  return (
    Number(b.isRetry) - Number(a.isRetry) ||
    b.priority - a.priority ||
    b.expectedMs - a.expectedMs ||
    a.seq - b.seq
  );
}

/** One job's waiting items, sorted; taken items are skipped lazily so taking from the front is O(1). */
class JobQueue {
  private items: QueueItem[] = [];
  private head = 0;
  private readonly taken = new Set<QueueItem>();
  running = 0;

  get size(): number {
    return this.items.length - this.head - this.taken.size;
  }

  addMany(items: readonly QueueItem[]): void {
    if (items.length === 1 && this.size > 0) {
      // A retry or a requeue: binary insertion keeps the order without a full sort.
      const item = items[0]!;
      let lo = this.head;
      let hi = this.items.length;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if (compareItems(this.items[mid]!, item) <= 0) lo = mid + 1;
        else hi = mid;
      }
      this.items.splice(lo, 0, item);
      return;
    }
    this.items = [...this.items.slice(this.head).filter((i) => !this.taken.has(i)), ...items].sort(compareItems);
    this.head = 0;
    this.taken.clear();
  }

  /** The first item the slave can run (and `accept` allows), removed; undefined if none. */
  take(slaveDims: Record<string, string>, accept?: (item: QueueItem) => boolean): QueueItem | undefined {
    for (let i = this.head; i < this.items.length; i++) {
      const item = this.items[i]!;
      if (this.taken.has(item)) continue;
      if (!dimensionsMatch(item.dimensions, slaveDims) || (accept && !accept(item))) continue;
      this.remove(item, i);
      return item;
    }
    return undefined;
  }

  remove(item: QueueItem, index = this.items.indexOf(item, this.head)): boolean {
    if (index < 0 || this.taken.has(item)) return false;
    if (index === this.head) {
      this.head++;
      while (this.head < this.items.length && this.taken.has(this.items[this.head]!)) {
        this.taken.delete(this.items[this.head]!);
        this.head++;
      }
    } else {
      this.taken.add(item);
    }
    if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return true;
  }

  *waiting(): Iterable<QueueItem> {
    for (let i = this.head; i < this.items.length; i++) if (!this.taken.has(this.items[i]!)) yield this.items[i]!;
  }
}

interface UserShare {
  running: number;
  /** Share of the slots relative to other users; 1 unless configured. */
  weight: number;
  jobs: Map<string, JobQueue>;
}

export interface QueueStats {
  queued: number;
  running: number;
  /** Waiting items per dimension set (JSON of the sorted dimensions). */
  queuedByDimensions: Record<string, number>;
}

/**
 * The queue itself. Running counts are kept here too, since fair share is
 * decided by them: call `started` when an item is leased (take does it) and
 * `finished` when its attempt ends.
 */
export class FairQueue {
  private readonly users = new Map<string, UserShare>();
  /**
   * Waiting items by job, then by task id (itemKey): no string made per
   * item, for a 100,000-task job's items were ~15 MB of keys alone.
   */
  private readonly byJob = new Map<string, Map<string, QueueItem>>();
  private waitingCount = 0;
  /** Waiting items per dimension set, kept as items come and go: sweeps and stats need no pass over every item. */
  private readonly byDimensions = new Map<string, { dimensions: Record<string, string>; count: number }>();
  /** By dimensions object: a job's tasks share theirs (job-request.ts), so a big job's items cost one key. */
  private readonly dimensionsKeys = new WeakMap<Record<string, string>, string>();
  private nextSeq = 0;

  constructor(private readonly weightOf: (user: string) => number = () => 1) {}

  /** A fresh insertion sequence number, for items built outside. */
  seq(): number {
    return this.nextSeq++;
  }

  get size(): number {
    return this.waitingCount;
  }

  put(items: readonly QueueItem[]): void {
    const byJob = new Map<JobQueue, QueueItem[]>();
    for (const item of items) {
      const job = this.jobQueue(item.user, item.jobId);
      this.index(item);
      this.countDimensions(item, +1);
      (byJob.get(job) ?? byJob.set(job, []).get(job)!).push(item);
    }
    for (const [job, list] of byJob) job.addMany(list);
  }

  /**
   * The next item for a slave with these dimensions, now counted as running;
   * undefined if none fits. `accept` narrows it further (the beanstalk
   * feeder takes one dimension set's items at a time).
   */
  take(slaveDims: Record<string, string>, accept?: (item: QueueItem) => boolean): QueueItem | undefined {
    const users = [...this.users.values()].filter((u) => u.jobs.size > 0);
    users.sort((a, b) => a.running / a.weight - b.running / b.weight);
    for (const user of users) {
      const jobs = [...user.jobs.values()].filter((j) => j.size > 0).sort((a, b) => a.running - b.running);
      for (const job of jobs) {
        const item = job.take(slaveDims, accept);
        if (!item) continue;
        this.unindex(item);
        this.countDimensions(item, -1);
        job.running++;
        user.running++;
        return item;
      }
    }
    return undefined;
  }

  /** Removes a waiting item (cancel); true if it was waiting. */
  remove(jobId: string, taskId: string, attempt: number): boolean {
    const items = this.byJob.get(jobId);
    const item = items && ([taskId, itemKey(taskId, attempt)].map((k) => items.get(k)).find((i) => i?.attempt === attempt));
    if (!item) return false;
    this.unindex(item);
    this.countDimensions(item, -1);
    const removed = this.users.get(item.user)?.jobs.get(jobId)?.remove(item) ?? false;
    this.prune(item.user, jobId);
    return removed;
  }

  /** Removes every waiting item of a job; returns them. */
  removeJob(jobId: string): QueueItem[] {
    const removed: QueueItem[] = [];
    for (const item of [...(this.byJob.get(jobId)?.values() ?? [])]) {
      if (this.remove(item.jobId, item.taskId, item.attempt)) removed.push(item);
    }
    return removed;
  }

  /** Counts an item as running without taking it (a lease rebuilt after a restart). */
  started(user: string, jobId: string): void {
    const job = this.jobQueue(user, jobId);
    job.running++;
    this.users.get(user)!.running++;
  }

  /** An attempt that was running ended. */
  finished(user: string, jobId: string): void {
    const share = this.users.get(user);
    const job = share?.jobs.get(jobId);
    if (!share || !job) return;
    job.running = Math.max(0, job.running - 1);
    share.running = Math.max(0, share.running - 1);
    this.prune(user, jobId);
  }

  /** Waiting items, in no particular order; for NO_RESOURCE sweeps and estimates. */
  *waiting(): Iterable<QueueItem> {
    for (const items of this.byJob.values()) yield* items.values();
  }

  stats(): QueueStats {
    const queuedByDimensions: Record<string, number> = {};
    let running = 0;
    for (const u of this.users.values()) running += u.running;
    for (const [key, { count }] of this.byDimensions) queuedByDimensions[key] = count;
    return { queued: this.waitingCount, running, queuedByDimensions };
  }

  /** The dimension sets of waiting items, with how many wait for each. */
  dimensionSets(): { key: string; dimensions: Record<string, string>; count: number }[] {
    return [...this.byDimensions].map(([key, v]) => ({ key, ...v }));
  }

  /** The dimension-set key of a waiting item. */
  dimensionsKeyOf(item: QueueItem): string {
    let key = this.dimensionsKeys.get(item.dimensions);
    if (key === undefined) this.dimensionsKeys.set(item.dimensions, (key = dimensionsKey(item.dimensions)));
    return key;
  }

  /**
   * An item is kept under its task id, or, when another attempt of the
   * task waits there already (a requeue racing a retry), under itemKey.
   */
  private index(item: QueueItem): void {
    let items = this.byJob.get(item.jobId);
    if (!items) this.byJob.set(item.jobId, (items = new Map()));
    const there = items.get(item.taskId);
    const own = itemKey(item.taskId, item.attempt);
    // Put again while it waits under its own key: it stays there, counted once.
    const key = there?.attempt === item.attempt || (there === undefined && !items.has(own)) ? item.taskId : own;
    if (!items.has(key)) this.waitingCount++;
    items.set(key, item);
  }

  private unindex(item: QueueItem): void {
    const items = this.byJob.get(item.jobId);
    if (!items) return;
    const key = items.get(item.taskId)?.attempt === item.attempt ? item.taskId : itemKey(item.taskId, item.attempt);
    if (items.delete(key)) this.waitingCount--;
    if (items.size === 0) this.byJob.delete(item.jobId);
  }

  private countDimensions(item: QueueItem, delta: 1 | -1): void {
    const key = this.dimensionsKeyOf(item);
    const entry = this.byDimensions.get(key);
    if (entry) {
      entry.count += delta;
      if (entry.count <= 0) this.byDimensions.delete(key);
    } else if (delta > 0) {
      this.byDimensions.set(key, { dimensions: item.dimensions, count: 1 });
    }
  }

  private jobQueue(user: string, jobId: string): JobQueue {
    let share = this.users.get(user);
    if (!share) this.users.set(user, (share = { running: 0, weight: Math.max(this.weightOf(user), 1e-9), jobs: new Map() }));
    let job = share.jobs.get(jobId);
    if (!job) share.jobs.set(jobId, (job = new JobQueue()));
    return job;
  }

  private prune(user: string, jobId: string): void {
    const share = this.users.get(user);
    if (!share) return;
    const job = share.jobs.get(jobId);
    if (job && job.size === 0 && job.running === 0) share.jobs.delete(jobId);
    if (share.jobs.size === 0 && share.running === 0) this.users.delete(user);
  }
}

/** The key of an attempt of a task whose id another waiting attempt holds; task ids have no NUL. */
function itemKey(taskId: string, attempt: number): string {
  return `${taskId}\0${attempt}`;
}

/** A stable name for a set of dimensions: JSON of the sorted pairs. */
export function dimensionsKey(dims: Record<string, string>): string {
  return JSON.stringify(Object.entries(dims).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}
