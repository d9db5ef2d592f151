/**
 * Hands memory back to the OS after a burst of garbage. Bun's collector
 * runs when the heap grows, not when work ends: after a 100,000-task submit
 * or a streamed list of every task, the freed objects' pages stay in the
 * process (RSS ~100 MB above what is live) until enough new garbage comes
 * along, which on an idle master is never. A full collection soon after
 * such work lets the allocator return them. It blocks the event loop for
 * a few tens of ms on a heap of ~100 MB, so it is only asked for after work
 * of that size, and requests coming together share one.
 */

/** Units of work (tasks submitted, listed or read) below which garbage is left to the collector's own pace. */
export const RECLAIM_MIN_UNITS = 10_000;
/** The collection waits this long after the last big piece of work asks for it: a burst of reads pays once. */
export const RECLAIM_DELAY_MS = 200;
/**
 * Collections start at least this far apart: a page polling a running
 * 100,000-task job reads it again on every change (~300 ms a read), and a
 * ~70 ms collection after each read would add a quarter to that; spaced,
 * they cost at most ~4% of a core. Between them the collector's own pace
 * holds.
 */
export const RECLAIM_SPACING_MS = 2_000;

export class MemoryReclaimer {
  private timer: ReturnType<typeof setTimeout> | undefined;
  /** When the last collection ran, in this process's monotonic ms (a cost's spacing, not a moment of the domain's: not the injected clock). */
  private lastAt = Number.NEGATIVE_INFINITY;
  /** Full collections run, for tests and metrics. */
  collections = 0;

  constructor(
    private readonly collect: () => void = () => Bun.gc(true),
    private readonly delayMs = RECLAIM_DELAY_MS,
    private readonly spacingMs = RECLAIM_SPACING_MS,
  ) {}

  /** Work touching `units` tasks' worth of objects just ended; collects once it is over if that is RECLAIM_MIN_UNITS or more. */
  after(units: number): void {
    if (units < RECLAIM_MIN_UNITS) return;
    // One already asked for stands for this one too: pushing it back at every call, reads coming less than the delay apart (pages polling a big job) would put it off for ever.
    if (this.timer !== undefined) return;
    const wait = Math.max(this.delayMs, this.lastAt + this.spacingMs - performance.now());
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.collections++;
      this.lastAt = performance.now();
      this.collect();
    }, wait);
    // A pending collection keeps no process alive.
    this.timer.unref?.();
  }

  close(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }
}
