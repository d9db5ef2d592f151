import type { Clock } from "../../common/clock.ts";
import { isDtError } from "../../common/errors.ts";
import type { Logger } from "../../common/log.ts";
import type { Lease } from "../protocol.ts";
import type { Repo } from "../repo/repo.ts";
import { type FairQueue, type QueueItem, dimensionsKey } from "../scheduler/fair-queue.ts";
import type { OfferSink } from "./offer-sink.ts";
import { beanstalkPriority, tubeFor } from "./tubes.ts";

export interface FeederConfig {
  /** Tube names start with this and a dot, so masters can share one beanstalkd. */
  tubePrefix: string;
  /**
   * Ready jobs kept in each tube. Slaves reserve only what is in a tube, so
   * this many tasks per dimension set can start while the master is away;
   * the rest wait in the master's fair-share order, which a bigger number
   * weakens.
   */
  feedAhead: number;
  /** beanstalkd's time-to-run: a reserved job not touched for this long is ready again. */
  ttrSec: number;
  /** How often tubes are topped up when nothing else prompts it. */
  intervalMs: number;
}

/** An attempt put into a tube, waiting for a slave to claim it. */
export interface Offer {
  leaseId: string;
  item: QueueItem;
  tube: string;
  /** The job's id in the queue; unknown for offers found in the database after a restart. */
  handle: number | null;
  offeredAt: number;
}

/** What the feeder needs of the dispatcher that owns it. */
export interface FeederHost {
  queue: FairQueue;
  repo: Repo;
  /** The lease an offer carries; null when the attempt's job is gone or canceled. */
  leaseBody(item: QueueItem, leaseId: string): Lease | null;
  /** An item taken from the queue goes back into it (the put failed, or its offer was lost). */
  untake(item: QueueItem): void;
  /** An item taken from the queue ended without running (canceled meanwhile). */
  drop(item: QueueItem): void;
  /** An item taken from the queue that beanstalkd will never take ends INFRA_FAILED with `message`. */
  refuse(item: QueueItem, message: string): Promise<void>;
  /** An item is offered in beanstalkd, recorded in the database: for the master, it runs now. */
  offered?(item: QueueItem): Promise<void>;
}

/** Unclaimed offers this old are checked against their tube: beanstalkd may have lost them. */
const LOST_AFTER_MS = 10_000;

/**
 * Moves attempts from the master's fair queue into beanstalkd just in time:
 * each dimension set's tube is kept at `feedAhead` ready jobs, taken in the
 * fair queue's order and put with a priority carrying retries-first and
 * longest-first. A slave that reserves a job claims it with its first
 * heartbeat (or its result); until then it is an offer here.
 *
 * The job is put before the attempt records its lease id, so an offer the
 * database knows is always in the queue; a crash between the two leaves a
 * job the master does not know, which the slave that reserves it is told to
 * drop. Offers a restarted beanstalkd lost (no binlog) are noticed by their
 * tube being empty and are fed again.
 */
export class Feeder {
  private readonly offers = new Map<string, Offer>();
  private running: Promise<void> | undefined;
  private again = false;
  private timer: ReturnType<typeof setInterval> | undefined;

  constructor(
    private readonly sink: OfferSink,
    private readonly host: FeederHost,
    readonly config: FeederConfig,
    private readonly clock: Clock,
    private readonly log: Logger,
    private readonly newId: () => string,
  ) {}

  start(): void {
    this.timer = setInterval(() => this.kick(), this.config.intervalMs);
    this.kick();
  }

  /** Tops the tubes up soon; calls while a pass runs make one more pass. */
  kick(): void {
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = (async () => {
      do {
        this.again = false;
        try {
          await this.feedOnce();
        } catch (err) {
          // beanstalkd away: the items went back to the queue; the next tick tries again.
          this.log.debug(`feeding beanstalkd failed: ${(err as Error).message}`);
        }
      } while (this.again);
    })().finally(() => (this.running = undefined));
  }

  /** Waits for the pass in progress, if any (tests, shutdown). */
  async idle(): Promise<void> {
    while (this.running) await this.running;
  }

  private async feedOnce(): Promise<void> {
    for (const { key, dimensions } of this.host.queue.dimensionSets()) {
      let tube: string;
      try {
        tube = tubeFor(this.config.tubePrefix, dimensions);
      } catch (err) {
        this.log.error((err as Error).message);
        continue;
      }
      let ready = (await this.sink.counts(tube))?.ready ?? 0;
      for (;;) {
        // A retry goes in even over the bound: it must run before first attempts already waiting in the tube.
        const item = this.host.queue.take(dimensions, (i) => dimensionsKey(i.dimensions) === key && (ready < this.config.feedAhead || i.isRetry));
        if (!item) break;
        if (await this.offer(item, tube)) ready++;
      }
    }
  }

  private async offer(item: QueueItem, tube: string): Promise<boolean> {
    const leaseId = this.newId();
    const lease = this.host.leaseBody(item, leaseId);
    if (!lease) {
      this.host.drop(item);
      return false;
    }
    // In the map before the put: a slave may reserve the job and claim it before the database write below is done.
    const offer: Offer = { leaseId, item, tube, handle: null, offeredAt: this.clock.now() };
    this.offers.set(leaseId, offer);
    /** Takes the offer back unless a slave claimed it meanwhile; true if it did. */
    const takeBack = async (handle: number | null): Promise<boolean> => {
      if (!this.offers.delete(leaseId)) return false;
      if (handle !== null) await this.sink.withdraw(handle).catch(() => false);
      return true;
    };
    try {
      offer.handle = await this.sink.put(tube, JSON.stringify(lease), { priority: beanstalkPriority(item), delaySec: 0, ttrSec: this.config.ttrSec });
    } catch (err) {
      if (!(await takeBack(null))) throw err;
      // Too big for beanstalkd (-z; an auto shard's filter can take 100 KB): put again, it would stop every pass here for good.
      if (isDtError(err, "too_large")) {
        this.log.warn(`task ${item.taskId} of job ${item.jobId} not offered: ${(err as Error).message}`, { job_id: item.jobId, task_id: item.taskId, attempt: item.attempt });
        await this.host.refuse(item, (err as Error).message);
        return false;
      }
      this.host.untake(item);
      throw err;
    }
    let recorded: boolean;
    try {
      recorded = await this.host.repo.updateAttempt(item.jobId, item.taskId, item.attempt, { leaseId }, ["QUEUED"]);
    } catch (err) {
      if (await takeBack(offer.handle)) this.host.untake(item);
      throw err;
    }
    // Not QUEUED any more: claimed already (fine), or canceled while being put (it must not run).
    if (!recorded && (await takeBack(offer.handle))) {
      this.host.drop(item);
      return false;
    }
    await this.host.offered?.(item);
    return true;
  }

  /** An offer found in the database after a restart: it is in its tube, handle unknown. */
  adopt(item: QueueItem, leaseId: string): void {
    this.offers.set(leaseId, { leaseId, item, tube: tubeFor(this.config.tubePrefix, item.dimensions), handle: null, offeredAt: this.clock.now() });
  }

  /** The offer, left in place. */
  peek(leaseId: string): Offer | undefined {
    return this.offers.get(leaseId);
  }

  /** Takes the offer out for its claimant; undefined when it is not (or no longer) offered. */
  claim(leaseId: string): Offer | undefined {
    const offer = this.offers.get(leaseId);
    if (offer) this.offers.delete(leaseId);
    return offer;
  }

  /** Takes back the offers `which` picks (a canceled job, tasks no slave can run); the caller records each attempt's end. */
  async withdraw(which: (offer: Offer) => boolean): Promise<Offer[]> {
    const taken = [...this.offers.values()].filter(which);
    for (const o of taken) this.offers.delete(o.leaseId);
    // A job already reserved stays; its slave is told to drop it at its first heartbeat.
    await Promise.all(taken.map((o) => (o.handle === null ? false : this.sink.withdraw(o.handle).catch(() => false))));
    return taken;
  }

  /**
   * Offers whose tube holds no job at all were lost by the queue: they go
   * back into the fair queue to be fed again. Returns how many.
   */
  async recoverLost(): Promise<number> {
    const now = this.clock.now();
    const byTube = new Map<string, Offer[]>();
    for (const o of this.offers.values()) {
      if (now - o.offeredAt >= LOST_AFTER_MS) (byTube.get(o.tube) ?? byTube.set(o.tube, []).get(o.tube)!).push(o);
    }
    let lost = 0;
    for (const [tube, offers] of byTube) {
      const counts = await this.sink.counts(tube);
      if (counts && counts.total > 0) continue;
      for (const o of offers) {
        if (!this.offers.delete(o.leaseId)) continue;
        this.host.untake(o.item);
        lost++;
      }
    }
    if (lost > 0) {
      this.log.warn(`${lost} offers were no longer in beanstalkd (restarted without its binlog?); feeding them again`, { lost });
      this.kick();
    }
    return lost;
  }

  /** Offers not yet claimed, for views and estimates. */
  waiting(): Iterable<Offer> {
    return this.offers.values();
  }

  get size(): number {
    return this.offers.size;
  }

  close(): void {
    clearInterval(this.timer);
    this.sink.close();
  }
}
