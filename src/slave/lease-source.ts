import type { Lease, SlaveCommand, SlaveIdentity } from "../master/protocol.ts";
import type { MasterClient } from "./master-client.ts";

/**
 * Where a slave gets attempts to run: the master's long-poll, or beanstalkd
 * directly. The lease loop, runner and heartbeat are the same for both;
 * test/e2e/queue.conformance.ts runs one set of scenarios against each.
 */
export interface LeaseSource {
  /** Up to `free` leases, waiting a while when there are none; [] once `signal` aborts. Throws when the slave is refused for good. */
  next(free: number, signal: AbortSignal): Promise<Lease[]>;
  /** The attempt ended and its result was reported or dropped: the source forgets the lease. */
  done(lease: Lease): Promise<void>;
  /** Gives a lease that was never started back for another slave; false when this source cannot (then report it not run). */
  giveBack(lease: Lease): Promise<boolean>;
  close(): Promise<void>;
}

export interface MasterLeaseSourceOptions {
  master: MasterClient;
  identity: () => SlaveIdentity;
  /** How long the master may hold a lease request when nothing is queued, ms. */
  waitMs: number;
  /** An operator's instruction that came with the answer (the heartbeat's answers carry them too). */
  onCommand?: (command: SlaveCommand) => void;
}

/** Leases from the master's long-poll: the master knows of a lease as it hands it out. */
export class MasterLeaseSource implements LeaseSource {

  constructor(private readonly o: MasterLeaseSourceOptions) {}

  async next(free: number, signal: AbortSignal): Promise<Lease[]> {
    const answer = await this.o.master.lease({ slave: this.o.identity(), free, wait_ms: this.o.waitMs }, signal);
    if (answer.command) this.o.onCommand?.(answer.command);
    return answer.leases;
  }

  async done(): Promise<void> {}

  async giveBack(): Promise<boolean> {
    return false;
  }

  async close(): Promise<void> {}
}
