import { DtError } from "../../common/errors.ts";
import type { Logger } from "../../common/log.ts";
import { type BeanstalkAddress, BeanstalkClient, type PutOptions } from "./beanstalk-client.ts";

/** Jobs of one tube, as the feeder needs them. */
export interface TubeCounts {
  /** Waiting for a slave to reserve them. */
  ready: number;
  /** Every job still in the tube: ready, reserved, delayed or buried. */
  total: number;
}

/**
 * The master's side of an external task queue: where it puts offers for
 * slaves to reserve, and takes back those no slave should run any more.
 * beanstalkd is the one such queue; the in-process queue needs none (its
 * slaves lease from the master over HTTP).
 */
export interface OfferSink {
  /** Puts a job into `tube`; returns its id in the queue. */
  put(tube: string, body: string, options: PutOptions): Promise<number>;
  /** Deletes a job not reserved by anyone; false if it is gone or reserved. */
  withdraw(id: number): Promise<boolean>;
  /** Counts of a tube; null when the tube does not exist (no job in it, nobody watching). */
  counts(tube: string): Promise<TubeCounts | null>;
  /** Resolves once the queue answers a round trip (beanstalkd's `stats`); rejects with DtError unreachable naming it otherwise. */
  ping(): Promise<void>;
  close(): void;
}

/**
 * An OfferSink on one beanstalkd connection, reconnected on the next call
 * after it drops (beanstalkd restarting). `use` and `put` are a pair on the
 * connection, so puts are serialized: another put's `use` must not come
 * between them.
 */
export class BeanstalkOfferSink implements OfferSink {
  private client: BeanstalkClient | undefined;
  private connecting: Promise<BeanstalkClient> | undefined;
  private used: string | undefined;
  private putChain: Promise<unknown> = Promise.resolve();
  private closed = false;
  private wasDown = false;

  constructor(readonly address: BeanstalkAddress, private readonly log: Logger) {}

  /** Connects once, so a master pointed at a dead queue fails at start with the address named. */
  static async open(address: BeanstalkAddress, log: Logger): Promise<BeanstalkOfferSink> {
    const sink = new BeanstalkOfferSink(address, log);
    await sink.connection();
    return sink;
  }

  private async connection(): Promise<BeanstalkClient> {
    if (this.closed) throw new DtError("unreachable", `beanstalkd ${this.address.host}:${this.address.port}: the master's queue connection is closed`);
    if (this.client && !this.client.closed) return this.client;
    this.connecting ??= BeanstalkClient.connect(this.address, { connectTimeoutMs: 5_000 }).then(
      (client) => {
        if (this.wasDown) this.log.info(`beanstalkd ${this.address.host}:${this.address.port} reachable again`);
        this.wasDown = false;
        this.client = client;
        this.used = undefined;
        return client;
      },
      (err) => {
        if (!this.wasDown) this.log.warn(`beanstalkd ${this.address.host}:${this.address.port}: ${(err as Error).message}; tasks wait in the master until it is back`);
        this.wasDown = true;
        throw err;
      },
    ).finally(() => (this.connecting = undefined));
    return this.connecting;
  }

  put(tube: string, body: string, options: PutOptions): Promise<number> {
    const work = this.putChain.then(async () => {
      const client = await this.connection();
      if (this.used !== tube) {
        await client.use(tube);
        this.used = tube;
      }
      return client.put(body, options);
    });
    this.putChain = work.catch(() => {});
    return work;
  }

  async withdraw(id: number): Promise<boolean> {
    return (await this.connection()).delete(id);
  }

  async counts(tube: string): Promise<TubeCounts | null> {
    const stats = await (await this.connection()).statsTube(tube);
    if (!stats) return null;
    const n = (key: string) => Number(stats[key] ?? 0);
    return { ready: n("current-jobs-ready"), total: n("current-jobs-ready") + n("current-jobs-reserved") + n("current-jobs-delayed") + n("current-jobs-buried") };
  }

  async ping(): Promise<void> {
    await (await this.connection()).stats();
  }

  close(): void {
    this.closed = true;
    this.client?.close();
  }
}
