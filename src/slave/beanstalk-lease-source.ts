import { DtError } from "../common/errors.ts";
import type { Logger } from "../common/log.ts";
import { sleep } from "../common/sleep.ts";
import { type BeanstalkAddress, BeanstalkClient, type ReservedJob } from "../master/queue/beanstalk-client.ts";
import { tubesForSlave } from "../master/queue/tubes.ts";
import type { ClaimResponse, Lease } from "../master/protocol.ts";
import { type BackoffPolicy, DEFAULT_BACKOFF, backoffDelayMs } from "./backoff.ts";
import type { LeaseSource } from "./lease-source.ts";

export interface BeanstalkLeaseSourceOptions {
  address: BeanstalkAddress;
  tubePrefix: string;
  /** The queue's time-to-run; held jobs are touched three times within it. */
  ttrSec: number;
  /** The slave's dimensions: it watches the tubes of every dimension set they cover. */
  dimensions: Record<string, string>;
  /** Longest one `next` waits before answering [], so the lease loop looks up again. */
  waitMs: number;
  /**
   * Asks the master for a reserved offer (MasterClient.claim), retrying
   * until it answers; null once `signal` aborts. Nothing of a lease starts
   * before the master granted it.
   */
  claim: (leaseId: string, signal: AbortSignal) => Promise<ClaimResponse | null>;
  log: Logger;
  backoff?: BackoffPolicy;
}

/**
 * One reserve blocks the connection for this long at most, so a touch or a
 * delete of a running task waits no longer than that behind it (a
 * connection's reservations can only be touched on that connection).
 */
const RESERVE_POLL_SEC = 1;
/** New tubes (a dimension set first submitted) are looked for this often. */
const TUBES_REFRESH_MS = 2_000;

interface Held {
  id: number;
  client: BeanstalkClient;
}

/**
 * Leases reserved from beanstalkd directly, as dist_test's slaves did: the
 * slave keeps taking work while the master restarts. It watches the tubes
 * whose dimension sets it covers, touches the jobs it runs well within the
 * TTR, deletes each once its result is reported (or dropped), and releases
 * one it never started. A connection that drops loses its reservations
 * (beanstalkd makes them ready again).
 *
 * A reserved job is only an offer: before a lease is handed to the lease
 * loop (before anything is fetched or spawned) the master must grant its
 * claim, which it stores first and grants once per attempt. A job whose
 * claim is refused (another slave holds it after its reservation lapsed;
 * a restarted master offered the attempt again under another lease; the
 * job was canceled) is deleted unrun. Without this, a slave ran what it
 * reserved at once and claimed with its first heartbeat: a master killed
 * between putting an offer and recording its lease offered the attempt
 * again after its restart, and two slaves ran it.
 */
export class BeanstalkLeaseSource implements LeaseSource {
  private client: BeanstalkClient | undefined;
  private readonly held = new Map<string, Held>();
  /** Leases the master granted: held for this slave there, so one not run must be reported, not released. */
  private readonly granted = new Set<string>();
  private tubesCheckedAt = Number.NEGATIVE_INFINITY;
  private readonly watched = new Set<string>();
  private failures = 0;
  private readonly touchTimer: ReturnType<typeof setInterval>;

  constructor(private readonly o: BeanstalkLeaseSourceOptions) {
    this.touchTimer = setInterval(() => this.touchAll(), Math.max(500, (o.ttrSec * 1000) / 3));
  }

  async next(free: number, signal: AbortSignal): Promise<Lease[]> {
    const deadline = Date.now() + this.o.waitMs;
    while (!signal.aborted && Date.now() < deadline) {
      const reserved: Lease[] = [];
      try {
        const client = await this.connection();
        await this.refreshTubes(client);
        const first = await client.reserveWithTimeout(RESERVE_POLL_SEC);
        for (let job: ReservedJob | null = first; job; job = reserved.length < free ? await client.reserveWithTimeout(0) : null) {
          const lease = await this.accept(client, job);
          if (lease) reserved.push(lease);
        }
      } catch (err) {
        this.dropConnection(err);
        // What was reserved went back to ready with the connection.
        for (const lease of reserved) this.held.delete(lease.lease_id);
        await sleep(backoffDelayMs(this.o.backoff ?? DEFAULT_BACKOFF, this.failures), signal);
        continue;
      }
      const leases = await this.claimAll(reserved, signal);
      if (leases.length > 0) return leases;
    }
    return [];
  }

  /** The reserved leases the master granted, claimed one by one; throws (after giving the rest back) only when none was granted. */
  private async claimAll(reserved: readonly Lease[], signal: AbortSignal): Promise<Lease[]> {
    const leases: Lease[] = [];
    for (const [i, lease] of reserved.entries()) {
      try {
        if (await this.claim(lease, signal)) leases.push(lease);
      } catch (err) {
        for (const rest of reserved.slice(i + 1)) await this.giveBack(rest);
        // Granted ones run; the error comes back at the next claim.
        if (leases.length > 0) return leases;
        throw err;
      }
    }
    return leases;
  }

  /**
   * True once the master granted the lease. Refused: the job is deleted,
   * unrun. Aborted (the slave drains): released for another slave. A
   * request the master refuses outright (4xx: a master without claims)
   * releases the job and throws, which stops the slave: it must not run
   * what no master granted.
   */
  private async claim(lease: Lease, signal: AbortSignal): Promise<boolean> {
    let answer: ClaimResponse | null;
    try {
      answer = await this.o.claim(lease.lease_id, signal);
    } catch (err) {
      await this.giveBack(lease);
      throw err;
    }
    if (answer === null) {
      await this.giveBack(lease);
      return false;
    }
    if (answer.claimed) {
      this.granted.add(lease.lease_id);
      return true;
    }
    this.o.log.info(`dropping ${lease.task_id} attempt ${lease.attempt} unrun: the master refused the claim (${answer.reason ?? "no reason given"})`, { job_id: lease.job_id, task_id: lease.task_id, attempt: lease.attempt, lease_id: lease.lease_id });
    await this.done(lease);
    return false;
  }

  async done(lease: Lease): Promise<void> {
    this.granted.delete(lease.lease_id);
    const held = this.held.get(lease.lease_id);
    if (!held) return;
    this.held.delete(lease.lease_id);
    // On a connection since closed the job went back to ready; whoever reserves it next is refused its claim and deletes it.
    if (!held.client.closed) await held.client.delete(held.id).catch(() => false);
  }

  async giveBack(lease: Lease): Promise<boolean> {
    // Granted, the master holds the attempt for this slave: released, it would be refused to everyone else. It is reported not run instead, and requeued.
    if (this.granted.has(lease.lease_id)) {
      await this.done(lease);
      return false;
    }
    const held = this.held.get(lease.lease_id);
    if (!held) return false;
    this.held.delete(lease.lease_id);
    if (held.client.closed) return true;
    try {
      const stats = await held.client.statsJob(held.id);
      return await held.client.release(held.id, Number(stats?.pri ?? 0), 0);
    } catch {
      // The connection dropped: beanstalkd made the job ready again itself.
      return true;
    }
  }

  async close(): Promise<void> {
    clearInterval(this.touchTimer);
    // Closing releases whatever is still reserved, for other slaves.
    this.client?.close();
    this.client = undefined;
  }

  private async connection(): Promise<BeanstalkClient> {
    if (this.client && !this.client.closed) return this.client;
    const client = await BeanstalkClient.connect(this.o.address, { connectTimeoutMs: 5_000 });
    if (this.failures > 0) this.o.log.info(`beanstalkd ${this.o.address.host}:${this.o.address.port} reachable again after ${this.failures} failures`);
    this.failures = 0;
    this.client = client;
    this.watched.clear();
    this.tubesCheckedAt = Number.NEGATIVE_INFINITY;
    return client;
  }

  private dropConnection(err: unknown): void {
    this.failures++;
    if (this.failures === 1 || this.failures % 10 === 0) {
      this.o.log.warn(`beanstalkd ${this.o.address.host}:${this.o.address.port}: ${(err as Error).message} (${this.failures} failures in a row); running tasks go on`);
    }
    this.client?.close();
    this.client = undefined;
  }

  /** Watches every tube this slave can serve, and no other (not beanstalkd's `default`). */
  private async refreshTubes(client: BeanstalkClient): Promise<void> {
    if (Date.now() - this.tubesCheckedAt < TUBES_REFRESH_MS) return;
    this.tubesCheckedAt = Date.now();
    const wanted = tubesForSlave(this.o.tubePrefix, await client.listTubes(), this.o.dimensions);
    for (const tube of wanted) {
      if (this.watched.has(tube)) continue;
      await client.watch(tube);
      this.watched.add(tube);
    }
    if (!this.watched.has("default")) {
      await client.ignore("default");
      this.watched.add("default");
    }
  }

  /** The lease a job carries; a job that is not one is buried for an operator to look at. */
  private async accept(client: BeanstalkClient, job: ReservedJob): Promise<Lease | null> {
    let lease: Lease;
    try {
      lease = parseLease(new TextDecoder().decode(job.body));
    } catch (err) {
      this.o.log.error(`beanstalkd job ${job.id} is not a dt lease (${(err as Error).message}); burying it`);
      await client.bury(job.id, 2 ** 32 - 1).catch(() => false);
      return null;
    }
    const known = this.held.has(lease.lease_id);
    this.held.set(lease.lease_id, { id: job.id, client });
    // Ready again after our connection dropped (a beanstalkd restart) while we still run it: keep running the one we have, and hold the job again.
    return known ? null : lease;
  }

  private touchAll(): void {
    for (const [leaseId, held] of this.held) {
      if (held.client.closed) continue;
      held.client.touch(held.id).then(
        (ok) => ok || this.o.log.debug(`beanstalkd no longer holds job ${held.id} (lease ${leaseId}) for this slave`),
        () => {},
      );
    }
  }
}

/** A lease as the master wrote it into the job; DtError when something it needs is missing. */
export function parseLease(text: string): Lease {
  const value: unknown = JSON.parse(text);
  const v = value as Record<string, unknown>;
  if (value === null || typeof value !== "object" || Array.isArray(value)) throw new DtError("invalid_input", "the job body is not a JSON object");
  for (const key of ["lease_id", "job_id", "task_id", "isolate_hash", "isolate_server", "description"]) {
    if (typeof v[key] !== "string") throw new DtError("invalid_input", `${key} is not a string`);
  }
  for (const key of ["attempt", "timeout", "lease_ttl_ms", "heartbeat_interval_ms"]) {
    if (typeof v[key] !== "number") throw new DtError("invalid_input", `${key} is not a number`);
  }
  if (!Array.isArray(v.artifact_archive_globs) || typeof v.env !== "object" || v.env === null) throw new DtError("invalid_input", "artifact_archive_globs or env is missing");
  // Absent from masters before test cases: the slave then reads the default globs.
  if (v.result_globs !== undefined && (!Array.isArray(v.result_globs) || v.result_globs.some((g) => typeof g !== "string"))) throw new DtError("invalid_input", "result_globs is not a list of strings");
  if (v.extra_args !== undefined && (!Array.isArray(v.extra_args) || v.extra_args.some((a) => typeof a !== "string"))) throw new DtError("invalid_input", "extra_args is not a list of strings");
  return value as Lease;
}
