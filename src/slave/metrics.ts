/**
 * A slave's Prometheus metrics, served by its status server
 * (status-server.ts). Task results, durations, phases and cache use have
 * the master's names (TaskMetrics), so one dashboard reads either; the
 * rest is the slave's own: slots, running attempts, its hold, free disk.
 *
 * @example
 *   const metrics = new SlaveMetrics({ version: VERSION, cacheDir });
 *   metrics.setSlots(4);
 *   metrics.attemptEnded({ state: report.state, times: report.times, cache: report.cache, leasedAt, reportedAt: clock.now() });
 *   startStatusServer({ host, port, registry: metrics.registry, readiness: [...] });
 */
import { freeDiskBytes } from "../common/disk.ts";
import { processMetrics } from "../common/metrics/process.ts";
import { type Counter, type Gauge, Registry } from "../common/metrics/registry.ts";
import { type EndedAttempt, TaskMetrics } from "../master/metrics.ts";
import type { SlaveHold } from "../master/protocol.ts";

export interface SlaveMetricsOptions {
  /** Default: a registry of its own (`registry` then holds it). */
  registry?: Registry;
  version: string;
  /** The blob cache: the free space of its filesystem is read at each scrape. */
  cacheDir: string;
  /** Free bytes for unprivileged users on the filesystem of `path`; statfs by default (tests inject). */
  freeBytes?: (path: string) => Promise<number>;
}

const HOLD_KINDS: readonly SlaveHold["kind"][] = ["drain", "quarantine"];

export class SlaveMetrics {
  readonly registry: Registry;
  private readonly tasks: TaskMetrics;
  private readonly running: Gauge;
  private readonly slots: Gauge;
  private readonly held: Gauge;
  private readonly infraFailures: Counter;

  constructor(o: SlaveMetricsOptions) {
    const registry = (this.registry = o.registry ?? new Registry());
    processMetrics(registry, o.version);
    this.tasks = new TaskMetrics(registry);
    this.running = registry.gauge({ name: "dt_slave_running_tasks", help: "Attempts this slave holds now (running, uploading or reporting)." });
    this.slots = registry.gauge({ name: "dt_slave_slots", help: "Attempts this slave runs at once." });
    this.held = registry.gauge({ name: "dt_slave_held", help: "1 while this slave takes no work because of a hold of this kind (drain or quarantine), else 0.", labelNames: ["kind"] });
    this.infraFailures = registry.counter({ name: "dt_slave_infra_failures_total", help: "Attempts this slave failed for infrastructure reasons (fetch, spawn, disk), not the test's." });
    const freeBytes = o.freeBytes ?? freeDiskBytes;
    registry.gauge({ name: "dt_slave_cache_free_bytes", help: "Free bytes on the filesystem of the slave's blob cache.", collect: async () => [{ value: await freeBytes(o.cacheDir) }] });
    this.running.set(0);
    this.setHold(null);
  }

  /** An attempt this slave reported. `leasedAt` is when the slave took the lease (its fetch phase starts there); null if unknown. */
  attemptEnded(a: Omit<EndedAttempt, "queuedAt">): void {
    this.tasks.record(a);
  }

  setRunning(n: number): void {
    this.running.set(n);
  }

  setSlots(n: number): void {
    this.slots.set(n);
  }

  /** The hold in force now (SlaveHealth.hold()?.kind), or null when the slave takes work. */
  setHold(kind: SlaveHold["kind"] | null): void {
    for (const k of HOLD_KINDS) this.held.with({ kind: k }).set(k === kind ? 1 : 0);
  }

  /** An infrastructure failure this slave caused (not a drain or a lease taken back). */
  infraFailure(): void {
    this.infraFailures.inc();
  }
}
