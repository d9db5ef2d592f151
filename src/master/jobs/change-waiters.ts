import type { ChangeTracker } from "../repo/change-tracking.ts";

/**
 * Bounds on held job long-polls. Each held request is an open socket and a
 * timer; a cap keeps a crowd of watchers from exhausting the master, and
 * one past the cap is answered at once (the client then polls as before).
 */
export interface ChangeWaitLimits {
  /** Longest hold a client may ask for, in ms; under the server's 60 s idle timeout with room to spare. */
  maxWaitMs: number;
  /** Requests held at once, over all jobs. */
  maxWaiters: number;
}

/** 25 s: a watcher off a terminal then costs the master about one request per 25 s while nothing changes. */
export const DEFAULT_CHANGE_WAIT_LIMITS: ChangeWaitLimits = { maxWaitMs: 25_000, maxWaiters: 1_000 };

interface Waiter {
  jobId: string;
  done: (changed: boolean) => void;
}

/**
 * Holds a job's status request until the job changes (any write to it or
 * its attempts, as ChangeTracker sees it), the hold times out, the client
 * hangs up, or the master stops: what lets `dt watch` learn of a result
 * within milliseconds instead of at its next poll.
 */
export class ChangeWaiters {
  private readonly waiting = new Map<string, Set<Waiter>>();
  private count = 0;
  /** Set by close(): the master is stopping, and no request is held any more. */
  private closed = false;
  private readonly unsubscribe: () => void;

  constructor(
    tracker: ChangeTracker,
    readonly limits: ChangeWaitLimits = DEFAULT_CHANGE_WAIT_LIMITS,
  ) {
    this.unsubscribe = tracker.onChange((jobId) => this.wake(jobId));
  }

  /** Requests held now. */
  get size(): number {
    return this.count;
  }

  /**
   * Resolves true when `jobId` changes, false after `ms` (clamped to the
   * limit), on `signal`'s abort, on close, or at once when the cap is reached.
   * The caller compares versions itself before calling.
   */
  wait(jobId: string, ms: number, signal?: AbortSignal): Promise<boolean> {
    const holdMs = Math.min(ms, this.limits.maxWaitMs);
    // After close, a request that came in while the master stops (its sweep awaited, the server not yet closed) would be held
    // for the whole hold, with no change ever waking it, and the server's stop would wait for it.
    if (this.closed || holdMs <= 0 || signal?.aborted || this.count >= this.limits.maxWaiters) return Promise.resolve(false);
    return new Promise<boolean>((resolve) => {
      const set = this.waiting.get(jobId) ?? this.waiting.set(jobId, new Set()).get(jobId)!;
      const waiter: Waiter = {
        jobId,
        done: (changed) => {
          clearTimeout(timer);
          signal?.removeEventListener("abort", onAbort);
          if (set.delete(waiter)) this.count--;
          if (set.size === 0 && this.waiting.get(jobId) === set) this.waiting.delete(jobId);
          resolve(changed);
        },
      };
      const onAbort = () => waiter.done(false);
      const timer = setTimeout(() => waiter.done(false), holdMs);
      signal?.addEventListener("abort", onAbort, { once: true });
      set.add(waiter);
      this.count++;
    });
  }

  /** Answers every held request (the master is stopping), and any asked for later at once, and stops listening. */
  close(): void {
    this.closed = true;
    this.unsubscribe();
    for (const set of [...this.waiting.values()]) for (const w of [...set]) w.done(false);
  }

  private wake(jobId: string): void {
    const set = this.waiting.get(jobId);
    if (set) for (const w of [...set]) w.done(true);
  }
}
