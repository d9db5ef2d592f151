import type { RunRef } from "../model.ts";

/** A task waiting for an identical task's attempt in another job (its own attempt is QUEUED, with reusedFrom naming the leader). */
export interface Follower extends RunRef {
  taskKey: string;
}

/** An attempt as one string: the key of the maps below, and of awaitedBy's answer. */
export const refKey = (r: RunRef) => `${r.jobId}\u0000${r.taskId}\u0000${r.attempt}`;

/**
 * Identical idempotent tasks queued or running now (docs/reuse.md): per task
 * key, the one attempt that runs (the leader: taken from the queue for a
 * slave), the tasks of other jobs waiting for its result (followers), and
 * the first attempts still queued (candidates). Identical tasks queued
 * together each keep their job's place in the fair queue; the first taken
 * leads, and the others leave the queue to wait for it, so a job's share
 * is never spent waiting behind another job's backlog. In memory only: the
 * database says it too (a follower's QUEUED attempt names its leader), so a
 * restarted master rebuilds it (transitions/rebuild.ts).
 */
export class InFlight {
  private readonly leaders = new Map<string, RunRef>();
  private readonly followers = new Map<string, Follower[]>();
  private readonly candidates = new Map<string, RunRef[]>();
  /** Keys first tries of which are being leased now (their writes pending): the job they are of, and how many. */
  private readonly beingLeased = new Map<string, { jobId: string; n: number }>();

  /** The attempt running `taskKey` now, unless it is of `jobId` (a job's identical tasks each run: they are what it asked for). */
  leaderFor(taskKey: string, jobId: string): RunRef | undefined {
    const leader = this.leaders.get(taskKey);
    return leader && leader.jobId !== jobId ? leader : undefined;
  }

  /** Makes `ref` the attempt that runs `taskKey`, unless one already does. */
  lead(taskKey: string, ref: RunRef): void {
    if (!this.leaders.has(taskKey)) this.leaders.set(taskKey, { jobId: ref.jobId, taskId: ref.taskId, attempt: ref.attempt });
  }

  /**
   * A first try of `taskKey` in `jobId` was taken for a slave, and its lease
   * is being stored: until `leased`, the key's queued copies in other jobs
   * are given to no slave (`heldFor`), for they are to wait for it.
   */
  leasing(taskKey: string, jobId: string): void {
    const now = this.beingLeased.get(taskKey);
    if (now) now.n++;
    else this.beingLeased.set(taskKey, { jobId, n: 1 });
  }

  leased(taskKey: string): void {
    const now = this.beingLeased.get(taskKey);
    if (now && --now.n <= 0) this.beingLeased.delete(taskKey);
  }

  /** True when a copy of `taskKey` in another job than `jobId` is being leased now. */
  heldFor(taskKey: string, jobId: string): boolean {
    const by = this.beingLeased.get(taskKey);
    return by !== undefined && by.jobId !== jobId;
  }

  get anyLeasing(): boolean {
    return this.beingLeased.size > 0;
  }

  /** `ref`, a first attempt of an idempotent task, waits in the queue. */
  candidate(taskKey: string, ref: RunRef): void {
    (this.candidates.get(taskKey) ?? this.candidates.set(taskKey, []).get(taskKey)!).push({ jobId: ref.jobId, taskId: ref.taskId, attempt: ref.attempt });
  }

  /**
   * `ref` left the queue for a slave. Unless an attempt already runs the key,
   * `ref` leads it, and the candidates of other jobs are returned: the
   * caller takes them out of the queue to wait for it.
   */
  taken(taskKey: string, ref: RunRef): RunRef[] {
    const queued = (this.candidates.get(taskKey) ?? []).filter((c) => refKey(c) !== refKey(ref));
    if (this.leaders.has(taskKey)) {
      this.setCandidates(taskKey, queued);
      return [];
    }
    this.leaders.set(taskKey, { jobId: ref.jobId, taskId: ref.taskId, attempt: ref.attempt });
    // The leader's own job's identical tasks stay queued: a job's identical tasks each run.
    this.setCandidates(taskKey, queued.filter((c) => c.jobId === ref.jobId));
    return queued.filter((c) => c.jobId !== ref.jobId);
  }

  private setCandidates(taskKey: string, list: RunRef[]): void {
    if (list.length === 0) this.candidates.delete(taskKey);
    else this.candidates.set(taskKey, list);
  }

  /** True when `ref` is the leader of some key now. */
  isLeader(taskKey: string, ref: RunRef): boolean {
    const leader = this.leaders.get(taskKey);
    return leader !== undefined && refKey(leader) === refKey(ref);
  }

  follow(leader: RunRef, follower: Follower): void {
    const key = refKey(leader);
    (this.followers.get(key) ?? this.followers.set(key, []).get(key)!).push(follower);
  }

  /**
   * The leader `ref` ended (any way): it leads no more, and its followers
   * are returned, for the caller to finish with its result or release.
   */
  end(taskKey: string | null, ref: RunRef): Follower[] {
    if (taskKey !== null && this.isLeader(taskKey, ref)) this.leaders.delete(taskKey);
    if (taskKey !== null && this.candidates.has(taskKey)) this.setCandidates(taskKey, this.candidates.get(taskKey)!.filter((c) => refKey(c) !== refKey(ref)));
    const key = refKey(ref);
    const waiting = this.followers.get(key) ?? [];
    this.followers.delete(key);
    return waiting;
  }

  /**
   * A job's cancel: its leaders lead no more (their followers are returned,
   * to run on their own: a cancel of one job cancels no other), and its own
   * followers stop waiting (returned apart, for the caller to count).
   */
  endJob(jobId: string): { released: { leader: RunRef; followers: Follower[] }[]; dropped: Follower[] } {
    const released: { leader: RunRef; followers: Follower[] }[] = [];
    for (const [taskKey, leader] of this.leaders) {
      if (leader.jobId !== jobId) continue;
      this.leaders.delete(taskKey);
      const followers = this.end(null, leader);
      if (followers.length > 0) released.push({ leader, followers });
    }
    for (const [taskKey, list] of this.candidates) this.setCandidates(taskKey, list.filter((c) => c.jobId !== jobId));
    const dropped: Follower[] = [];
    for (const [key, list] of this.followers) {
      const kept = list.filter((f) => f.jobId !== jobId);
      dropped.push(...list.filter((f) => f.jobId === jobId));
      if (kept.length === 0) this.followers.delete(key);
      else this.followers.set(key, kept);
    }
    return { released, dropped };
  }

  /**
   * Leaders to end though no path said they ended: those whose job no longer
   * runs (`isOpen` false), and the attempts followers wait for that lead
   * nothing. The sweep ends them, so that no follower waits for good.
   */
  stranded(isOpen: (jobId: string) => boolean): { taskKey: string | null; leader: RunRef }[] {
    const out: { taskKey: string | null; leader: RunRef }[] = [];
    const led = new Set<string>();
    for (const [taskKey, leader] of this.leaders) {
      led.add(refKey(leader));
      if (!isOpen(leader.jobId)) out.push({ taskKey, leader });
    }
    for (const key of this.followers.keys()) if (!led.has(key)) out.push({ taskKey: null, leader: parseRef(key) });
    return out;
  }

  /** The attempts the tasks of `jobId` wait for, by refKey. */
  awaitedBy(jobId: string): Set<string> {
    const out = new Set<string>();
    for (const [key, list] of this.followers) if (list.some((f) => f.jobId === jobId)) out.add(key);
    return out;
  }

  get size(): { leaders: number; followers: number } {
    let followers = 0;
    for (const list of this.followers.values()) followers += list.length;
    return { leaders: this.leaders.size, followers };
  }

  /** First attempts of idempotent tasks queued now (tests, metrics). */
  get queuedCandidates(): number {
    let n = 0;
    for (const list of this.candidates.values()) n += list.length;
    return n;
  }
}

function parseRef(key: string): RunRef {
  const [jobId, taskId, attempt] = key.split("\u0000");
  return { jobId: jobId!, taskId: taskId!, attempt: Number(attempt) };
}
