/**
 * The master's Prometheus metrics: what is queued (by dimension set) and
 * running, slaves by state, and, from every attempt that ends on a slave,
 * results, durations, per-phase latencies and cache use. TaskMetrics is
 * shared with the slave (src/slave/metrics.ts), so a dashboard reads the
 * same names from either.
 *
 * @example
 *   const metrics = new MasterMetrics(registry);
 *   const master = new Master({ ...deps, observer: metrics });
 *   metrics.attach(master);
 */
import type { Counter, Histogram, Registry } from "../common/metrics/registry.ts";
import type { Master } from "./master.ts";
import type { AttemptState, CacheCounts } from "./model.ts";
import type { QueueDemand, ReportedTimes, SlaveState } from "./protocol.ts";
import { queueDemand } from "./scheduler/demand.ts";
import type { AttemptEnded, DispatcherObserver } from "./scheduler/dispatcher.ts";
import type { ReuseCounts } from "./scheduler/dispatch-state.ts";

/**
 * Task and phase durations (s): from 50 ms (a unit test's fetch of a warm
 * cache, or its whole run) to an hour (the longest suites, and queue waits
 * on a busy day), about two buckets per decade.
 */
export const TASK_DURATION_BUCKETS = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1200, 1800, 3600];

export type TaskPhase = "queue" | "fetch" | "map" | "run" | "upload" | "report";

/** An attempt that ended, as both the master and the slave know it (epoch ms; null where unknown). */
export interface EndedAttempt {
  state: AttemptState;
  /** When the master queued it: only the master knows. */
  queuedAt?: number | null;
  leasedAt: number | null;
  times: ReportedTimes;
  cache: CacheCounts | null;
  reportedAt: number | null;
}

/**
 * Seconds spent in each phase whose two ends are known: queue (queued →
 * leased), fetch (leased → inputs fetched), map (→ tree laid out), run
 * (command start → end), upload (command end → outputs uploaded), report
 * (uploaded → result stored).
 */
export function phaseSeconds(a: EndedAttempt): [TaskPhase, number][] {
  const t = a.times;
  const spans: [TaskPhase, number | null | undefined, number | null | undefined][] = [
    ["queue", a.queuedAt, a.leasedAt],
    ["fetch", a.leasedAt, t.fetch_done_at],
    ["map", t.fetch_done_at, t.map_done_at],
    ["run", t.command_start_at, t.command_end_at],
    ["upload", t.command_end_at, t.upload_done_at],
    ["report", t.upload_done_at, a.reportedAt],
  ];
  const out: [TaskPhase, number][] = [];
  for (const [phase, start, end] of spans) {
    // fetch and report span the master's clock and the slave's: a skew between them can make one negative; it was short, so 0.
    if (start !== null && start !== undefined && end !== null && end !== undefined) out.push([phase, Math.max(0, end - start) / 1000]);
  }
  return out;
}

/** Results, command durations, phase latencies and cache use of ended attempts. */
export class TaskMetrics {
  private readonly results: Counter;
  private readonly durations: Histogram;
  private readonly phases: Histogram;
  private readonly cacheItems: Counter;
  private readonly cacheBytes: Counter;
  private readonly cacheSeen = { hot: 0, cold: 0 };

  constructor(registry: Registry) {
    this.results = registry.counter({ name: "dt_task_results_total", help: "Attempts that ended on a slave, by final state.", labelNames: ["state"] });
    this.durations = registry.histogram({
      name: "dt_task_duration_seconds",
      help: "How long a task's command ran, by the attempt's final state.",
      labelNames: ["state"],
      buckets: TASK_DURATION_BUCKETS,
    });
    this.phases = registry.histogram({
      name: "dt_task_phase_seconds",
      help: "Time an attempt spent in each phase: queue, fetch, map, run, upload, report.",
      labelNames: ["phase"],
      buckets: TASK_DURATION_BUCKETS,
    });
    this.cacheItems = registry.counter({ name: "dt_slave_cache_items_total", help: "Input files of attempts found in the slave's cache (hit) or fetched (miss).", labelNames: ["result"] });
    this.cacheBytes = registry.counter({ name: "dt_slave_cache_bytes_total", help: "Input bytes of attempts found in the slave's cache (hit) or fetched (miss).", labelNames: ["result"] });
    registry.gauge({
      name: "dt_slave_cache_hit_ratio",
      help: "Share of input bytes found in slave caches since this process started (absent until an attempt reported its cache use).",
      collect: () => {
        const total = this.cacheSeen.hot + this.cacheSeen.cold;
        return total === 0 ? [] : [{ value: this.cacheSeen.hot / total }];
      },
    });
  }

  record(a: EndedAttempt): void {
    this.results.with({ state: a.state }).inc();
    const { command_start_at: start, command_end_at: end } = a.times;
    if (start !== null && end !== null) this.durations.with({ state: a.state }).observe(Math.max(0, end - start) / 1000);
    for (const [phase, seconds] of phaseSeconds(a)) this.phases.with({ phase }).observe(seconds);
    if (a.cache) {
      this.cacheItems.with({ result: "hit" }).inc(a.cache.itemsHot);
      this.cacheItems.with({ result: "miss" }).inc(a.cache.itemsCold);
      this.cacheBytes.with({ result: "hit" }).inc(a.cache.bytesHot);
      this.cacheBytes.with({ result: "miss" }).inc(a.cache.bytesCold);
      this.cacheSeen.hot += a.cache.bytesHot;
      this.cacheSeen.cold += a.cache.bytesCold;
    }
  }
}

const SLAVE_STATES: readonly SlaveState[] = ["idle", "busy", "draining", "quarantined", "lost"];

/** A dimension set as a label value: `os=linux,pool=ci`, keys sorted; "" for a task that runs anywhere. */
export function dimensionsText(dimensions: Record<string, string>): string {
  return Object.keys(dimensions).sort().map((k) => `${k}=${dimensions[k]}`).join(",");
}

/**
 * The master's metrics: the observer the Master is given, and gauges read
 * from the master at each scrape once `attach` named it (the observer must
 * exist before the Master does).
 */
export class MasterMetrics implements DispatcherObserver {
  private readonly tasks: TaskMetrics;
  private readonly reuse: Counter;
  private master: Master | undefined;
  /** Computed once per scrape, for the gauges that share it. */
  private demand: QueueDemand | undefined;

  constructor(registry: Registry) {
    this.tasks = new TaskMetrics(registry);
    this.reuse = registry.counter({
      name: "dt_reuse_tasks_total",
      help: "Idempotent tasks submitted, by what reuse did (docs/reuse.md): hit (took a stored result), miss (found none: ran or waited), coalesced (took the result of an identical task that ran in another job while it waited).",
      labelNames: ["result"],
    });
    registry.beforeCollect(() => {
      this.demand = this.master ? queueDemand(this.master.dispatcher) : undefined;
    });
    const bySet = (value: (set: QueueDemand["by_dimensions"][number]) => number) => () =>
      this.demand?.by_dimensions.map((set) => ({ labels: { dimensions: dimensionsText(set.dimensions) }, value: value(set) })) ?? [];
    registry.gauge({
      name: "dt_queued_tasks",
      help: "Attempts waiting for a slave (in the master or offered in beanstalkd), by the dimension set they need.",
      labelNames: ["dimensions"],
      collect: bySet((set) => set.queued_tasks),
    });
    registry.gauge({
      name: "dt_queued_expected_work_seconds",
      help: "Expected run time of the queued attempts whose test has a duration history, by dimension set.",
      labelNames: ["dimensions"],
      collect: bySet((set) => set.queued_known_work_ms / 1000),
    });
    registry.gauge({ name: "dt_running_tasks", help: "Attempts slaves hold now.", collect: () => (this.demand ? [{ value: this.demand.running_tasks }] : []) });
    registry.gauge({
      name: "dt_held_job_requests",
      help: "Job status requests held until their job changes (the clients' long-polls); at the cap, more are answered at once.",
      collect: () => (this.master ? [{ value: this.master.changeWaiters.size }] : []),
    });
    registry.gauge({
      name: "dt_slaves",
      help: "Slaves the master has heard from, by state: idle, busy, draining, quarantined, lost.",
      labelNames: ["state"],
      collect: () => {
        if (!this.master) return [];
        const counts = new Map<SlaveState, number>(SLAVE_STATES.map((s) => [s, 0]));
        for (const slave of this.master.slaves()) counts.set(slave.state, (counts.get(slave.state) ?? 0) + 1);
        return [...counts].map(([state, value]) => ({ labels: { state }, value }));
      },
    });
  }

  /** The master whose queue and slaves the gauges read. */
  attach(master: Master): void {
    this.master = master;
  }

  attemptEnded(event: AttemptEnded): void {
    this.tasks.record(event);
  }

  reuseCounted(counts: ReuseCounts): void {
    if (counts.hits > 0) this.reuse.with({ result: "hit" }).inc(counts.hits);
    if (counts.misses > 0) this.reuse.with({ result: "miss" }).inc(counts.misses);
    if (counts.coalesced > 0) this.reuse.with({ result: "coalesced" }).inc(counts.coalesced);
  }
}
