import type { Clock } from "../common/clock.ts";
import type { Logger } from "../common/log.ts";
import { type CacheLimits, LocalCache } from "../isolate/cache/local-cache.ts";
import type { ResolvedTree } from "../isolate/run/fetch.ts";

/**
 * Open cache instances for a slave's slots, kept across tasks: opening,
 * trimming and closing the cache for every task (state file, lock, pins)
 * cost a trivial task more than running it. A task takes an instance, and
 * gives it back with its pins released once its run directory is gone; the
 * cache is trimmed at most every `trimIntervalMs`, on the way back.
 */
export class CachePool {
  private readonly idle: LocalCache[] = [];
  private readonly all: LocalCache[] = [];
  private lastTrimAt: number;

  constructor(
    private readonly dir: string,
    private readonly limits: CacheLimits,
    private readonly clock: Clock,
    private readonly log: Logger,
    /** Ten seconds: a cache over its limit by one burst of tasks for that long is harmless. */
    private readonly trimIntervalMs = 10_000,
  ) {
    this.lastTrimAt = clock.now();
  }

  async acquire(): Promise<LocalCache> {
    const cache = this.idle.pop();
    if (cache) return cache;
    const opened = await LocalCache.open(this.dir, this.limits, this.clock);
    this.all.push(opened);
    return opened;
  }

  async release(cache: LocalCache): Promise<void> {
    cache.unpinAll();
    this.idle.push(cache);
    const now = this.clock.now();
    if (now - this.lastTrimAt < this.trimIntervalMs) return;
    this.lastTrimAt = now;
    try {
      const { items, bytes } = await cache.trim();
      if (items > 0) this.log.info(`cache trimmed: ${items} blobs (${bytes} bytes) evicted`);
    } catch (err) {
      this.log.warn(`cache trim failed: ${(err as Error).message}`);
    }
  }

  /** Saves the state and releases every instance; at slave exit. */
  async close(): Promise<void> {
    for (const cache of this.all) await cache.close().catch((err) => this.log.warn(`closing the cache failed: ${(err as Error).message}`));
    this.all.length = 0;
    this.idle.length = 0;
  }
}

/** Parsed manifests by digest, the most recent `capacity`: a job's shards and repeats share one. */
export class ManifestMemo extends Map<string, ResolvedTree> {
  constructor(private readonly capacity = 64) {
    super();
  }

  override set(hash: string, tree: ResolvedTree): this {
    this.delete(hash);
    super.set(hash, tree);
    while (this.size > this.capacity) this.delete(this.keys().next().value!);
    return this;
  }
}
