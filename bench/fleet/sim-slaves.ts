/**
 * Simulated slaves for bench/fleet.ts: each speaks the real slave protocol
 * over HTTP (lease long-polls, heartbeats while it holds leases, a live-log
 * append and a result per attempt) without running anything: an attempt "runs" for a duration
 * drawn from a fixed-seed distribution. One process drives thousands.
 *
 * Against a master on beanstalkd (its GET /api/v1/slave/queue says so) each
 * simulated slave takes its work as `dt slave` does: the slave's own
 * BeanstalkLeaseSource (one connection per slave, its tubes watched,
 * reserved jobs touched, each claimed from the master before it "runs" and
 * deleted once reported), not the master's long-poll.
 */
import { createLogger } from "../../src/common/log.ts";
import type { ClaimResponse, QueueInfo } from "../../src/master/protocol.ts";
import { parseBeanstalkUrl } from "../../src/master/queue/beanstalk-client.ts";
import { BeanstalkLeaseSource } from "../../src/slave/beanstalk-lease-source.ts";
import type { Lease } from "../../src/master/protocol.ts";
export { seededRandom as seeded } from "../../test/helpers/prng.ts";

/** Exponentially distributed around `meanMs`, cut at 5× the mean: most attempts short, a few long. */
export function durationDraw(meanMs: number, random: () => number): () => number {
  return () => Math.min(5 * meanMs, -Math.log(1 - random()) * meanMs);
}

export interface FleetOptions {
  base: string;
  slaves: number;
  slots: number;
  /** The slave's defaults: long-poll 20 s, a heartbeat every 5 s, busy or idle. */
  leaseWaitMs: number;
  heartbeatMs: number;
  duration: () => number;
  /**
   * Heartbeat while idle too. A dt slave leasing over HTTP beats only while
   * it holds leases (src/slave/heartbeat.ts): its long-poll tells the master
   * it is there. One reserving from beanstalkd, or held, beats every 5 s idle.
   */
  idleHeartbeats?: boolean;
}

/** What the fleet measured, reset at each phase. */
export interface FleetStats {
  completions: number;
  /** Leases taken, and when the first was (performance.now()). */
  leased: number;
  firstLeaseAt: number | null;
  heartbeatMs: number[];
  errors: number;
  lastError: string | null;
}

type SimLease = Pick<Lease, "lease_id" | "job_id" | "task_id" | "attempt">;

/** The fleet: start() connects every slave; stop() ends their loops (held long-polls are aborted). */
export class Fleet {
  stats: FleetStats = { completions: 0, leased: 0, firstLeaseAt: null, heartbeatMs: [], errors: 0, lastError: null };
  private stopped = false;
  private readonly abort = new AbortController();
  private readonly loops: Promise<void>[] = [];

  constructor(private readonly o: FleetOptions) {}

  resetStats(): FleetStats {
    const old = this.stats;
    this.stats = { completions: 0, leased: 0, firstLeaseAt: null, heartbeatMs: [], errors: 0, lastError: null };
    return old;
  }

  private queue: QueueInfo = { kind: "master" };

  /** Asks the master where work comes from, then connects every slave. */
  async start(): Promise<void> {
    this.queue = (await (await fetch(`${this.o.base}/api/v1/slave/queue`)).json()) as QueueInfo;
    for (let i = 0; i < this.o.slaves; i++) this.loops.push(this.slave(`sim-${String(i).padStart(5, "0")}`, i));
  }

  /** Where one slave's leases come from: the master's long-poll, or beanstalkd as `dt slave` reserves from it. */
  private source(identity: { name: string; dimensions: Record<string, string>; slots: number; version: string }): { next: (free: number) => Promise<SimLease[]>; done: (lease: SimLease) => Promise<void>; close: () => Promise<void> } {
    const q = this.queue;
    if (q.kind === "beanstalk") {
      const life = crypto.randomUUID();
      const bs = new BeanstalkLeaseSource({
        address: parseBeanstalkUrl(q.address), tubePrefix: q.tube_prefix, ttrSec: q.ttr_sec, dimensions: identity.dimensions, waitMs: this.o.leaseWaitMs, log: createLogger({ level: "silent" }),
        claim: async (leaseId) => (await this.post("/claim", { slave: identity, lease_id: leaseId, life })) as ClaimResponse,
      });
      return { next: (free) => bs.next(free, this.abort.signal), done: (lease) => bs.done(lease as Lease), close: () => bs.close() };
    }
    return {
      next: async (free) => ((await this.post("/lease", { slave: identity, free, wait_ms: this.o.leaseWaitMs })) as { leases: SimLease[] }).leases,
      done: async () => {},
      close: async () => {},
    };
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.abort.abort();
    await Promise.allSettled(this.loops);
  }

  private async post(path: string, body: unknown): Promise<any> {
    const res = await fetch(`${this.o.base}/api/v1/slave${path}`, {
      method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body), signal: this.abort.signal,
    });
    if (!res.ok) throw new Error(`${path}: ${res.status} ${(await res.text()).slice(0, 200)}`);
    return res.json();
  }

  private failed(err: unknown): void {
    if (this.stopped) return;
    this.stats.errors++;
    this.stats.lastError = (err as Error).message;
  }

  /** One slave: a lease loop with at most one long-poll out, a heartbeat loop, and a timer per running attempt. */
  private async slave(name: string, i: number): Promise<void> {
    const identity = { name, dimensions: { pool: "sim" }, slots: this.o.slots, version: "fleet-sim" };
    const running = new Map<string, SimLease>();
    const source = this.source(identity);
    let freed: (() => void) | null = null;
    const heartbeats = (async () => {
      // Spread over the interval, as slaves started over minutes are.
      await Bun.sleep((i * 7919) % this.o.heartbeatMs);
      while (!this.stopped) {
        if (running.size === 0 && !this.o.idleHeartbeats) {
          await Bun.sleep(this.o.heartbeatMs);
          continue;
        }
        const t0 = performance.now();
        try {
          await this.post("/heartbeat", { slave: identity, leases: [...running.values()].map((l) => ({ lease_id: l.lease_id, phase: "RUNNING" })) });
          this.stats.heartbeatMs.push(performance.now() - t0);
        } catch (err) {
          this.failed(err);
        }
        await Bun.sleep(this.o.heartbeatMs);
      }
    })();
    const run = async (lease: SimLease) => {
      await Bun.sleep(this.o.duration());
      try {
        if (this.stopped) return;
        const query = new URLSearchParams({ lease: lease.lease_id, stream: "stdout", offset: "0", slave: name });
        await fetch(`${this.o.base}/api/v1/slave/log?${query}`, { method: "POST", headers: { "content-type": "application/octet-stream" }, body: `[ RUN      ] Sim.Case\n[       OK ] Sim.Case\n`, signal: this.abort.signal });
        const now = Date.now();
        await this.post("/result", {
          lease_id: lease.lease_id, job_id: lease.job_id, task_id: lease.task_id, attempt: lease.attempt, state: "SUCCEEDED", exit_code: 0, message: null,
          times: { fetch_done_at: now, map_done_at: now, command_start_at: now, command_end_at: now, upload_done_at: now },
          cache: null, stdout_key: null, stderr_key: null, artifact_key: null, artifact_missing: false, slave: name,
        });
        this.stats.completions++;
      } catch (err) {
        this.failed(err);
      } finally {
        await source.done(lease).catch((err) => this.failed(err));
        running.delete(lease.lease_id);
        freed?.();
      }
    };
    while (!this.stopped) {
      const free = this.o.slots - running.size;
      if (free === 0) {
        await new Promise<void>((resolve) => (freed = resolve));
        freed = null;
        continue;
      }
      try {
        const leases = await source.next(free);
        if (leases.length > 0) {
          this.stats.leased += leases.length;
          this.stats.firstLeaseAt ??= performance.now();
        }
        for (const lease of leases) {
          running.set(lease.lease_id, lease);
          void run(lease);
        }
      } catch (err) {
        this.failed(err);
        await Bun.sleep(1_000);
      }
    }
    await heartbeats;
    await source.close();
  }
}
