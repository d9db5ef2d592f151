import type { Logger } from "../common/log.ts";
import type { Lease, SlaveCommand, SlaveIdentity, SlavePhase } from "../master/protocol.ts";
import type { MasterClient } from "./master-client.ts";
import type { AbortReason } from "./outcome.ts";

/** What the heartbeat needs of a running attempt; TaskRun is one. */
export interface HeartbeatTarget {
  readonly lease: Lease;
  readonly phase: SlavePhase;
  abort(reason: AbortReason): void;
}

export interface HeartbeatOptions {
  master: MasterClient;
  identity: () => SlaveIdentity;
  /** The attempts the slave holds now, reported or not yet. */
  targets: () => Iterable<HeartbeatTarget>;
  log: Logger;
  /**
   * Beat this often while no lease is held. A slave fed by beanstalkd does
   * not long-poll the master, so only these tell the master it is alive
   * (NO_RESOURCE, the slaves view). Without it, an idle slave is silent.
   * Asked before each wait: a held slave (drained, quarantined) that polls
   * for no leases beats while idle, to hear of its resume.
   */
  idleIntervalMs?: () => number | undefined;
  /** An operator's instruction that came with an answer. */
  onCommand?: (command: SlaveCommand) => void;
}

/** A master handing out a tiny or zero interval must not make the slave spin. */
const MIN_INTERVAL_MS = 50;
/**
 * After a failed beat the next try comes after this share of the interval,
 * doubling per failure up to a whole interval: a lost beat is made good
 * well inside the TTL (at least two intervals), yet a master away for
 * minutes is asked at most once per interval by each slave.
 */
const FIRST_RETRY_SHARE = 4;
/** A beat unanswered after this share of the shortest TTL is given up on and tried again (see beat()). */
const HUNG_BEAT_TTL_SHARE = 4;

/**
 * Keeps the master's view of this slave's attempts fresh: every
 * `heartbeat_interval_ms` (the shortest among the held leases) it sends
 * each lease with its phase, and at once when poked (the start of a
 * drain). Phase changes wait for the next tick: the result carries every
 * phase's time, and a beat per phase cost the master a write per task. It aborts what the master answers with:
 * `cancel` (the job was canceled: kill, report CANCELED) and `unknown` (the
 * lease was taken back: kill, report nothing).
 *
 * Ticks count from the last beat, never from the last change of the lease
 * set: a slave that takes a new lease more often than once an interval (a
 * slot running short tasks one after another) would otherwise put the
 * beat off for ever, and its long task would lose its lease while running.
 * A failed or hung beat (bounded by a quarter of the shortest TTL) is tried again
 * after a quarter interval, then backs off to the interval.
 *
 * @example
 *   const heartbeat = new HeartbeatLoop({ master, identity, targets: () => runs.values(), log });
 *   heartbeat.start(); ...; heartbeat.poke(); ...; await heartbeat.stop();
 */
export class HeartbeatLoop {
  private stopped = false;
  private poked = false;
  private rescheduled = false;
  private wake: (() => void) | undefined;
  private done: Promise<void> = Promise.resolve();
  private failures = 0;
  /** performance.now() of the last beat sent, or of the lease that started the ticks; undefined while idle with no ticks. */
  private tickFrom: number | undefined;

  constructor(private readonly o: HeartbeatOptions) {}

  start(): void {
    // A slave that beats while idle says hello at once: nothing else tells the master it is there.
    if (this.o.idleIntervalMs?.() !== undefined) this.poked = true;
    this.done = this.loop();
  }

  /** Beat as soon as the one in flight (if any) is answered. */
  poke(): void {
    this.poked = true;
    this.wake?.();
  }

  /**
   * The set of leases changed: start the ticks if none ran, or re-time them
   * to a shorter interval, without beating now and without putting off a
   * tick that is due. A new lease needs no beat of its own: the lease call
   * itself told the master, and a short task reports before its first tick.
   */
  reschedule(): void {
    this.rescheduled = true;
    this.wake?.();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.wake?.();
    await this.done;
  }

  private async loop(): Promise<void> {
    while (!this.stopped) {
      if (!this.poked) {
        await this.nextTick();
        if (this.rescheduled) {
          this.rescheduled = false;
          if (!this.poked && !this.stopped) continue;
        }
      }
      this.poked = false;
      if (this.stopped) break;
      const targets = [...this.o.targets()];
      if (targets.length > 0 || this.o.idleIntervalMs?.() !== undefined) await this.beat(targets);
    }
  }

  /**
   * Until the shortest interval of the held leases has passed since the
   * last beat (sooner after a failure), or a poke; with no lease held, the
   * idle interval or only a poke.
   */
  private nextTick(): Promise<void> {
    // A change of the lease set before this point (during a beat) is accounted for below; only one during the wait re-times it.
    this.rescheduled = false;
    const intervals = [...this.o.targets()].map((t) => t.lease.heartbeat_interval_ms);
    const idle = this.o.idleIntervalMs?.();
    if (intervals.length === 0 && idle !== undefined) intervals.push(idle);
    const now = performance.now();
    let delay: number | undefined;
    if (intervals.length === 0) {
      // Nothing to beat for: the next lease starts the ticks afresh.
      this.tickFrom = undefined;
    } else {
      const interval = Math.max(MIN_INTERVAL_MS, Math.min(...intervals));
      this.tickFrom ??= now;
      const wait = this.failures > 0 ? Math.min(interval, (interval / FIRST_RETRY_SHARE) * 2 ** (this.failures - 1)) : interval;
      delay = Math.max(0, this.tickFrom + Math.max(MIN_INTERVAL_MS, wait) - now);
    }
    return new Promise((resolve) => {
      const timer = delay !== undefined ? setTimeout(() => this.wake?.(), delay) : undefined;
      this.wake = () => {
        clearTimeout(timer);
        this.wake = undefined;
        resolve();
      };
    });
  }

  private async beat(targets: HeartbeatTarget[]): Promise<void> {
    this.tickFrom = performance.now();
    // A hung beat must leave room for another before the lease lapses. The interval may be half the TTL, so a beat
    // sent at the tick and given up on after a quarter TTL leaves the retry a quarter TTL to land.
    const ttls = targets.map((t) => t.lease.lease_ttl_ms).filter((ttl) => ttl > 0);
    const timeoutMs = ttls.length > 0 ? Math.max(MIN_INTERVAL_MS, Math.min(...ttls) / HUNG_BEAT_TTL_SHARE) : undefined;
    let answer;
    try {
      answer = await this.o.master.heartbeat({ slave: this.o.identity(), leases: targets.map((t) => ({ lease_id: t.lease.lease_id, phase: t.phase })) }, timeoutMs);
    } catch (err) {
      this.failures++;
      // The first failure and every tenth: a master away for minutes should not flood the log.
      if (this.failures === 1 || this.failures % 10 === 0) {
        this.o.log.warn(`heartbeat failed (${this.failures} in a row): ${(err as Error).message}; the tasks keep running`);
      }
      return;
    }
    if (this.failures > 0) this.o.log.info(`heartbeat answered again after ${this.failures} failures`);
    this.failures = 0;
    const byLease = new Map(targets.map((t) => [t.lease.lease_id, t]));
    for (const id of answer.cancel ?? []) byLease.get(id)?.abort("cancel");
    for (const id of answer.unknown ?? []) byLease.get(id)?.abort("unknown");
    if (answer.command) this.o.onCommand?.(answer.command);
  }
}
