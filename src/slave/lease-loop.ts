import type { Clock } from "../common/clock.ts";
import { DtError } from "../common/errors.ts";
import type { Logger } from "../common/log.ts";
import type { Lease, ResultReport, SlaveCommand, SlaveIdentity } from "../master/protocol.ts";
import { CachePool, ManifestMemo } from "./cache-pool.ts";
import { DEFAULT_HEALTH_LIMITS, SlaveHealth } from "./health.ts";
import { HeartbeatLoop } from "./heartbeat.ts";
import { type LeaseSource, MasterLeaseSource } from "./lease-source.ts";
import type { MasterClient } from "./master-client.ts";
import { notRunReport } from "./outcome.ts";
import { TaskRun, type TaskRunnerConfig } from "./task-runner.ts";

/**
 * How long the master may hold a lease request when nothing is queued, ms.
 * 20 s: an idle slave learns of new work within milliseconds (the master
 * answers the held request as soon as a task comes), while a fleet of idle
 * slaves costs the master one request per slave per 20 s. The protocol's
 * limit is 30 s.
 */
export const DEFAULT_LEASE_WAIT_MS = 20_000;

/**
 * While held (drained or quarantined by an operator, or by itself), the
 * slave asks for no leases but beats this often, to hear of a resume and to
 * stay live on the master. 5 s: a resume takes effect within seconds, at
 * one small request per held slave per 5 s.
 */
const HELD_HEARTBEAT_MS = 5_000;

/** How often the slave looks at its free disk, ms: a statfs per path, cheap; a disk fills over minutes, not seconds. */
export const DEFAULT_HEALTH_CHECK_MS = 10_000;

/** How long a finished attempt's report may take before its slot is used again anyway (see start()). */
const REPORT_GRACE_MS = 1_000;

export interface SlaveOptions {
  master: MasterClient;
  name: string;
  dimensions: Record<string, string>;
  version: string;
  /** Attempts run at once. */
  slots: number;
  /** After a drain begins, how long running attempts may go on before they are killed, ms. */
  drainTimeoutMs: number;
  leaseWaitMs?: number;
  /**
   * Where leases come from: beanstalkd (see BeanstalkLeaseSource) or, by
   * default, the master's long-poll. Made from the slave's identity when a
   * function is given.
   */
  source?: (identity: () => SlaveIdentity) => LeaseSource;
  /** With an external queue, idle slaves heartbeat this often so the master counts them live. */
  idleHeartbeatMs?: number;
  runner: Omit<TaskRunnerConfig, "master" | "log" | "clock" | "drainMessage">;
  /** Whether to take work (disk, infrastructure failures, an operator's hold); by default only the operator's holds apply. */
  health?: SlaveHealth;
  /** How often the disk is checked, ms (DEFAULT_HEALTH_CHECK_MS). */
  healthCheckMs?: number;
  /** Told of every attempt that ended with a report (metrics). */
  onAttemptEnded?: (report: ResultReport, run: TaskRun) => void;
  /** Told how many attempts the slave holds, whenever that changes (metrics). */
  onRunningChanged?: (running: number) => void;
  /** Where this slave serves /metrics, told to the master for its slaves view. */
  metricsUrl?: string;
  log: Logger;
  clock: Clock;
}

/**
 * A slave: keeps up to `slots` attempts running, asking the master for as
 * many leases as it has free slots with a long-poll, and heartbeats the
 * ones it holds. `drain()` (SIGTERM) stops the asking, lets the running
 * attempts finish, kills those still running after the drain timeout
 * (reported INFRA_FAILED, which the master requeues), and then `run()`
 * returns.
 *
 * @example
 *   const slave = new Slave({ master, name: hostname(), slots: 4, ... });
 *   process.once("SIGTERM", () => slave.drain());
 *   await slave.run();
 */
export class Slave {
  private readonly runs = new Map<string, TaskRun>();
  /** Leases whose command has not finished yet: what takes a slot (a run waiting to report does not). */
  private readonly busy = new Set<string>();
  /** Every attempt's promise (and every not-run report), until it settles: run() waits for them all. */
  private readonly inFlight = new Set<Promise<void>>();
  private readonly heartbeat: HeartbeatLoop;
  private readonly drainController = new AbortController();
  private readonly runnerConfig: TaskRunnerConfig;
  private readonly source: LeaseSource;
  private wakeLoop: (() => void) | undefined;
  private drainTimer: ReturnType<typeof setTimeout> | undefined;
  readonly health: SlaveHealth;

  constructor(private readonly o: SlaveOptions) {
    if (!Number.isInteger(o.slots) || o.slots < 1) throw new DtError("invalid_input", `slots: ${o.slots} is not a positive integer`);
    this.runnerConfig = {
      caches: new CachePool(o.runner.cacheDir, o.runner.cacheLimits, o.clock, o.log),
      manifests: new ManifestMemo(),
      ...o.runner,
      master: o.master,
      log: o.log,
      clock: o.clock,
      drainMessage: `slave ${o.name} drained: the attempt was still running ${formatMs(o.drainTimeoutMs)} after the slave was told to stop, so it was killed; the master requeues the task`,
    };
    this.health = o.health ?? new SlaveHealth({ paths: [], limits: DEFAULT_HEALTH_LIMITS, clock: o.clock, log: o.log });
    const identity = () => this.identity();
    const onCommand = (command: SlaveCommand) => this.health.command(command);
    this.source = o.source?.(identity) ?? new MasterLeaseSource({ master: o.master, identity, waitMs: o.leaseWaitMs ?? DEFAULT_LEASE_WAIT_MS, onCommand });
    this.heartbeat = new HeartbeatLoop({
      master: o.master, identity, targets: () => this.runs.values(), log: o.log, onCommand,
      idleIntervalMs: () => o.idleHeartbeatMs ?? (this.health.hold() ? HELD_HEARTBEAT_MS : undefined),
    });
    // A hold that starts or ends: the loop looks again, and the master hears of it now rather than at the next tick.
    this.health.onChange(() => {
      this.wakeLoop?.();
      this.heartbeat.poke();
    });
  }

  get draining(): boolean {
    return this.drainController.signal.aborted;
  }

  /** Lease ids of the attempts held now (running, uploading or reporting). */
  get leases(): string[] {
    return [...this.runs.keys()];
  }

  identity(): SlaveIdentity {
    const { name, dimensions, slots, version, metricsUrl } = this.o;
    const hold = this.health.hold();
    return {
      name, dimensions, slots, version,
      ...(this.draining ? { draining: true } : {}),
      ...(hold ? { hold } : {}),
      ...(metricsUrl ? { metrics_url: metricsUrl } : {}),
    };
  }

  /** Leases and runs attempts until drained. Rejects (after draining) only when the master refuses the slave's lease requests. */
  async run(): Promise<void> {
    const { o } = this;
    o.log.info(`slave ${o.name} asking ${o.master.master} for work: ${o.slots} slots, dimensions ${JSON.stringify(o.dimensions)}`, { slave: o.name, slots: o.slots });
    await this.health.checkDisk();
    const diskTimer = setInterval(() => void this.health.checkDisk(), o.healthCheckMs ?? DEFAULT_HEALTH_CHECK_MS);
    this.heartbeat.start();
    let refused: unknown;
    try {
      while (!this.draining) {
        if (this.health.hold()) {
          // Held: ask for nothing; a change of the hold, a drain, or the recheck (a cooldown ends) wakes the loop.
          await new Promise<void>((resolve) => {
            const timer = setTimeout(resolve, HELD_HEARTBEAT_MS);
            this.wakeLoop = () => {
              clearTimeout(timer);
              resolve();
            };
          });
          continue;
        }
        const free = o.slots - this.busy.size;
        if (free <= 0) {
          await new Promise<void>((resolve) => (this.wakeLoop = resolve));
          continue;
        }
        let leases: Lease[];
        try {
          leases = await this.source.next(free, this.drainController.signal);
        } catch (err) {
          // Only a 4xx gets here (the client retries everything else): the master will not lease to this slave as it is.
          o.log.error(`the master refused to lease: ${(err as Error).message}`, { slave: o.name });
          refused = err;
          this.drain();
          break;
        }
        for (const lease of leases) this.start(lease);
      }
      while (this.inFlight.size > 0) await Promise.all(this.inFlight);
    } finally {
      clearInterval(diskTimer);
      clearTimeout(this.drainTimer);
      await this.heartbeat.stop();
      await this.source.close();
      await this.runnerConfig.caches?.close();
    }
    o.log.info(`slave ${o.name} drained; exiting`, { slave: o.name });
    if (refused !== undefined) throw refused;
  }

  /**
   * Stops asking for work and lets the running attempts finish; after the
   * drain timeout, kills them. Safe to call more than once.
   */
  drain(): void {
    if (this.draining) return;
    this.drainController.abort();
    this.wakeLoop?.();
    // The master sees `draining` at once, not at the next tick.
    this.heartbeat.poke();
    this.o.log.info(`draining: ${this.runs.size} attempts running; they have ${formatMs(this.o.drainTimeoutMs)} to finish`, { slave: this.o.name, running: this.runs.size });
    this.drainTimer = setTimeout(() => this.killAll(), this.o.drainTimeoutMs);
  }

  /** Kills the running attempts now, as the drain timeout would (a second SIGTERM); they are reported INFRA_FAILED. */
  killAll(): void {
    this.drain();
    clearTimeout(this.drainTimer);
    if (this.runs.size > 0) this.o.log.warn(`killing ${this.runs.size} attempts still running`, { slave: this.o.name });
    for (const run of this.runs.values()) run.abort("drain");
  }

  private start(lease: Lease): void {
    const { o } = this;
    if (this.draining || this.health.hold()) {
      // Leased as the drain or a hold began: give it straight back rather than let it wait out its TTL.
      this.track(this.source.giveBack(lease).then(async (given) => {
        if (given) return;
        const why = this.draining ? "was draining" : `was held (${this.health.hold()?.reason ?? "a hold began"})`;
        const report = notRunReport(lease, `slave ${o.name} ${why} when the lease came and did not start it; the master requeues the task`);
        await o.master.reportResult(report);
      }));
      return;
    }
    const run = new TaskRun(lease, this.runnerConfig);
    this.runs.set(lease.lease_id, run);
    o.onRunningChanged?.(this.runs.size);
    this.busy.add(lease.lease_id);
    let graceTimer: ReturnType<typeof setTimeout> | undefined;
    const free = () => {
      clearTimeout(graceTimer);
      if (this.busy.delete(lease.lease_id)) this.wakeLoop?.();
    };
    // Normally the report is in within milliseconds and frees the slot, so a failed test's retry is queued before the next lease is asked for; past the grace the master is away, and the slot goes back to work.
    // The timer is cleared when the report frees the slot: a pending one kept a drained slave's process alive for the whole grace.
    void run.executed.then(() => {
      if (this.busy.has(lease.lease_id)) graceTimer = setTimeout(free, REPORT_GRACE_MS);
    });
    // The master knows of the lease already (it handed it out, or granted its claim): no beat of its own.
    this.heartbeat.reschedule();
    this.track(
      run.run().then(
        (report) => {
          if (!report) return;
          this.health.attemptEnded(report.state, report.message, run.abortReason);
          o.onAttemptEnded?.(report, run);
        },
        (err) => o.log.error(`attempt ${lease.task_id}/${lease.attempt} ended without a report: ${(err as Error).stack ?? err}`, run.fields),
      ).finally(() => {
        this.runs.delete(lease.lease_id);
        o.onRunningChanged?.(this.runs.size);
        free();
        // Reported (or dropped): the queue may forget the job. Not awaited, so the slot frees at once.
        this.track(this.source.done(lease));
      }),
    );
  }

  private track(work: Promise<void>): void {
    const tracked = work.catch((err) => this.o.log.error(`slave: ${(err as Error).message}`)).finally(() => this.inFlight.delete(tracked));
    this.inFlight.add(tracked);
  }
}

/** `10m`, `90s`, `250ms`: how durations read in dt's flags. */
function formatMs(ms: number): string {
  if (ms % 60_000 === 0 && ms > 0) return `${ms / 60_000}m`;
  if (ms % 1000 === 0) return `${ms / 1000}s`;
  return `${ms}ms`;
}
