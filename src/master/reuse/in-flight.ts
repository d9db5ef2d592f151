import type { RunRef } from "../model.ts";

/** A task waiting for an identical task's attempt in another job (its own attempt is QUEUED, with reusedFrom naming the leader). */
export interface Follower extends RunRef {
  taskKey: string;
}

const refKey = (r: RunRef) => `${r.jobId}\u0000${r.taskId}\u0000${r.attempt}`;

/**
 * Identical idempotent tasks queued or running now (docs/reuse.md): per task
 * key, the one attempt that runs (the leader), and the tasks of other jobs
 * waiting for its result (followers). In memory only: the database says it
 * too (a follower's QUEUED attempt names its leader), so a restarted master
 * rebuilds it (transitions/rebuild.ts).
 */
export class InFlight {
  private readonly leaders = new Map<string, RunRef>();
  private readonly followers = new Map<string, Follower[]>();

  /** The attempt running `taskKey` now, unless it is of `jobId` (a job's identical tasks each run: they are what it asked for). */
  leaderFor(taskKey: string, jobId: string): RunRef | undefined {
    const leader = this.leaders.get(taskKey);
    return leader && leader.jobId !== jobId ? leader : undefined;
  }

  /** Makes `ref` the attempt that runs `taskKey`, unless one already does. */
  lead(taskKey: string, ref: RunRef): void {
    if (!this.leaders.has(taskKey)) this.leaders.set(taskKey, { jobId: ref.jobId, taskId: ref.taskId, attempt: ref.attempt });
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
  endJob(jobId: string): { released: Follower[]; dropped: Follower[] } {
    const released: Follower[] = [];
    for (const [taskKey, leader] of this.leaders) {
      if (leader.jobId !== jobId) continue;
      this.leaders.delete(taskKey);
      released.push(...this.end(null, leader));
    }
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

  get size(): { leaders: number; followers: number } {
    let followers = 0;
    for (const list of this.followers.values()) followers += list.length;
    return { leaders: this.leaders.size, followers };
  }
}

function parseRef(key: string): RunRef {
  const [jobId, taskId, attempt] = key.split("\u0000");
  return { jobId: jobId!, taskId: taskId!, attempt: Number(attempt) };
}
