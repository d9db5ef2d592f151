import { Hono } from "hono";
import type { HeartbeatRequest, HeartbeatResponse, Lease, LeaseRequest, ResultReport, ResultResponse } from "../../src/master/protocol.ts";
import { outputKey } from "../../src/master/protocol.ts";

/** One append as the fake master received it. */
export interface LogAppend {
  lease: string;
  stream: "stdout" | "stderr";
  offset: number;
  bytes: number;
}

/**
 * The slave half of the master, in memory, served on 127.0.0.1 port 0 with
 * Bun.serve: a queue of leases the test pushes, and records of everything
 * the slave sent. It can be stopped and started again on the same port
 * (state kept), cancel or forget a lease through the heartbeat, and lose
 * the acknowledgment of a stored result.
 *
 * @example
 *   const master = await startFakeMaster(cas.url);
 *   const [lease] = master.push({ isolate_hash: hash });
 *   await waitUntil(() => master.result(lease.lease_id) !== undefined, "the result");
 */
export class FakeMaster {
  readonly queue: Lease[] = [];
  readonly leaseRequests: LeaseRequest[] = [];
  readonly heartbeats: HeartbeatRequest[] = [];
  readonly appends: LogAppend[] = [];
  /** Live log bytes per `lease/stream`. */
  readonly logs = new Map<string, Buffer>();
  /** Uploaded outputs per `lease/kind`. */
  readonly outputs = new Map<string, Uint8Array>();
  /** Stored results, one per lease. */
  readonly results = new Map<string, ResultReport>();
  /** Every POST result, duplicates included. */
  readonly resultPosts: ResultReport[] = [];
  readonly toCancel = new Set<string>();
  readonly toForget = new Set<string>();
  /** Results stored but answered with a 500, as if the answer were lost on the way. */
  loseResultAcks = 0;
  /** Log appends stored but answered with a 500. */
  loseLogAcks = 0;
  /** Reports carrying cases refused with this status (413: an older master's 1 MiB body limit), as many times as `refuseCases` says. */
  refuseCasesStatus: 400 | 413 = 413;
  refuseCases = 0;
  /** When set, every lease request is refused with this status (a master that will not have this slave). */
  refuseLeases: 400 | 401 | 403 | undefined;
  private readonly leased = new Map<string, Lease>();
  private waiters: { free: number; signal: AbortSignal; resolve: (leases: Lease[]) => void }[] = [];
  private listener: ReturnType<typeof Bun.serve> | undefined;
  private port = 0;
  private nextId = 0;
  readonly app = new Hono();

  constructor(private readonly casUrl: string) {
    const api = new Hono();
    api.post("/lease", async (c) => {
      const request = (await c.req.json()) as LeaseRequest;
      this.leaseRequests.push(request);
      if (this.refuseLeases) return c.json({ error: "slave not allowed", code: "invalid_input" }, this.refuseLeases);
      const ready = this.hand(request.free);
      if (ready.length > 0) return c.json({ leases: ready });
      const signal = c.req.raw.signal;
      const leases = await new Promise<Lease[]>((resolve) => {
        const timer = setTimeout(() => settle([]), request.wait_ms);
        const waiter = { free: request.free, signal, resolve: (l: Lease[]) => settle(l) };
        const settle = (l: Lease[]) => {
          clearTimeout(timer);
          this.waiters = this.waiters.filter((w) => w !== waiter);
          resolve(l);
        };
        this.waiters.push(waiter);
        // The slave gave up on the request (drain): it must get nothing, or the lease would be lost until its TTL.
        signal.addEventListener("abort", () => settle([]), { once: true });
      });
      return c.json({ leases });
    });
    api.post("/heartbeat", async (c) => {
      const request = (await c.req.json()) as HeartbeatRequest;
      this.heartbeats.push(request);
      const ids = request.leases.map((l) => l.lease_id);
      const answer: HeartbeatResponse = { cancel: ids.filter((id) => this.toCancel.has(id)), unknown: ids.filter((id) => this.toForget.has(id)) };
      return c.json(answer);
    });
    api.post("/log", async (c) => {
      const lease = c.req.query("lease")!;
      const stream = c.req.query("stream") as "stdout" | "stderr";
      const offset = Number(c.req.query("offset"));
      const bytes = Buffer.from(await c.req.arrayBuffer());
      if (!this.leased.has(lease)) return c.json({ error: `unknown lease ${lease}`, code: "not_found" }, 404);
      this.appends.push({ lease, stream, offset, bytes: bytes.length });
      const key = `${lease}/${stream}`;
      const held = this.logs.get(key) ?? Buffer.alloc(0);
      if (offset > held.length) return c.json({ error: `offset ${offset} is past the log's ${held.length} bytes`, code: "invalid_input", size: held.length }, 409);
      const fresh = bytes.subarray(held.length - offset);
      const stored = Buffer.concat([held, fresh]);
      this.logs.set(key, stored);
      if (this.loseLogAcks > 0) {
        this.loseLogAcks--;
        return c.json({ error: "answer lost on the way", code: "unreachable" }, 500);
      }
      return c.json({ size: stored.length });
    });
    api.put("/output", async (c) => {
      const leaseId = c.req.query("lease")!;
      const kind = c.req.query("kind") as "stdout" | "stderr" | "artifacts";
      const lease = this.leased.get(leaseId);
      if (!lease) return c.json({ error: `unknown lease ${leaseId}`, code: "not_found" }, 404);
      this.outputs.set(`${leaseId}/${kind}`, new Uint8Array(await c.req.arrayBuffer()));
      return c.json({ key: outputKey(lease.job_id, lease.task_id, lease.attempt, kind) });
    });
    api.post("/result", async (c) => {
      const report = (await c.req.json()) as ResultReport;
      this.resultPosts.push(report);
      if (this.refuseCases > 0 && report.cases) {
        this.refuseCases--;
        return c.json({ error: "the test's master refuses cases", code: this.refuseCasesStatus === 413 ? "too_large" : "invalid_input" }, this.refuseCasesStatus);
      }
      const duplicate = this.results.has(report.lease_id);
      if (!duplicate) this.results.set(report.lease_id, report);
      if (this.loseResultAcks > 0) {
        this.loseResultAcks--;
        return c.json({ error: "answer lost on the way", code: "unreachable" }, 500);
      }
      const answer: ResultResponse = { ok: true, duplicate, stale: false };
      return c.json(answer);
    });
    this.app.route("/api/v1/slave", api);
  }

  /** Long-polls held open now. */
  get waiting(): number {
    return this.waiters.length;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** Queues leases (defaults filled in) and hands them to a waiting long-poll at once. */
  push(...partial: (Partial<Lease> & { isolate_hash: string })[]): Lease[] {
    const leases = partial.map((p) => {
      const n = ++this.nextId;
      return {
        lease_id: `lease-${n}`, job_id: "job-1", task_id: `${p.isolate_hash}.${n}`, attempt: 0,
        isolate_server: this.casUrl, description: `task ${n}`, timeout: 0, artifact_archive_globs: [], env: {},
        lease_ttl_ms: 60_000, heartbeat_interval_ms: 100,
        ...p,
      } satisfies Lease;
    });
    this.queue.push(...leases);
    for (const waiter of [...this.waiters]) {
      if (waiter.signal.aborted) continue;
      const ready = this.hand(waiter.free);
      if (ready.length > 0) waiter.resolve(ready);
    }
    return leases;
  }

  log(lease: string, stream: "stdout" | "stderr"): string {
    return this.logs.get(`${lease}/${stream}`)?.toString() ?? "";
  }

  output(lease: string, kind: "stdout" | "stderr" | "artifacts"): Uint8Array | undefined {
    return this.outputs.get(`${lease}/${kind}`);
  }

  /** Phases the heartbeats reported for a lease, in order, repeats collapsed. */
  phases(lease: string): string[] {
    const seen: string[] = [];
    for (const beat of this.heartbeats) {
      const phase = beat.leases.find((l) => l.lease_id === lease)?.phase;
      if (phase && seen.at(-1) !== phase) seen.push(phase);
    }
    return seen;
  }

  async start(): Promise<void> {
    this.listener = Bun.serve({ port: this.port, hostname: "127.0.0.1", fetch: (req) => this.app.fetch(req) });
    this.port = this.listener.port!;
  }

  /** Stops listening (dropping open connections) and ends held long-polls; the state stays for start(). */
  async stop(): Promise<void> {
    for (const waiter of [...this.waiters]) waiter.resolve([]);
    await this.listener?.stop(true);
    this.listener = undefined;
  }

  /** Takes up to `free` leases off the queue, as a lease request does. */
  hand(free: number): Lease[] {
    const taken = this.queue.splice(0, Math.max(0, free));
    for (const lease of taken) this.leased.set(lease.lease_id, lease);
    return taken;
  }
}

export async function startFakeMaster(casUrl: string): Promise<FakeMaster> {
  const master = new FakeMaster(casUrl);
  await master.start();
  return master;
}
