import { Hono } from "hono";
import { DtError } from "../../common/errors.ts";
import { readBodyLimited, readJsonLimited } from "../../common/http.ts";
import { parseOutputsRef } from "../../isolate/outputs/outputs-ref.ts";
import { parseReportCases } from "../cases/case-report.ts";
import type { Master } from "../master.ts";
import { ByteBudget } from "./byte-budget.ts";
import { type ClaimRequest, type HeartbeatRequest, type LeaseRequest, type LeaseResponse, type ResultReport, type SlaveHold, type SlaveIdentity, type SlavePhase, outputKey } from "../protocol.ts";

/** What one request of a slave may carry, per kind of body. */
export interface SlaveBodyLimits {
  /** Lease, heartbeat and claim requests: a few hundred bytes each, a heartbeat of 1,024 slots a few KiB. */
  maxJsonBytes: number;
  /**
   * A result report, which carries the attempt's test cases: ~150 bytes of
   * JSON per case, so googletest's own suite (1,100 cases) is ~170 KiB and
   * a binary of 100,000 cases ~15 MiB; failures add up to 4 KiB of message
   * each. 64 MiB (as a job submission) holds MAX_REPORTED_CASES (200,000)
   * typical cases, or 15,000 failures with full messages; the master holds
   * one such body in memory per report being read.
   */
  maxResultBytes: number;
  /** One log chunk: slaves send at most 64 KiB a second; 4 MiB leaves room for bursts. */
  maxLogChunkBytes: number;
  /**
   * One attempt's stdout, stderr or artifact archive. Archives hold at most
   * 200 MiB of files before compression (the slave's cap, as dist_test's);
   * logs are what the test wrote, and dist_test held both in a slave's
   * memory, so nothing near 2 GiB ever reached it. A slave told 413 reports
   * the attempt without that output.
   */
  maxOutputBytes: number;
  /**
   * Result bodies being read, parsed or stored at once, in body bytes (by
   * Content-Length; a body without one counts as maxResultBytes): a report
   * costs the master ~4-5 times its body while its cases are parsed and
   * stored (a 60 MiB report of 200,000 cases: ~300 MiB, measured with
   * bench/big-report-stall.ts), so without a bound a few slaves reporting
   * big binaries at once take gigabytes. 128 MiB lets two of the biggest in
   * together (~600 MiB) and never holds back ordinary reports of a few MiB
   * unless big ones fill it; the others wait unread, in order.
   */
  maxResultBytesInFlight: number;
}

export const DEFAULT_SLAVE_BODY_LIMITS: SlaveBodyLimits = {
  maxJsonBytes: 1 * 2 ** 20, maxResultBytes: 64 * 2 ** 20, maxLogChunkBytes: 4 * 2 ** 20, maxOutputBytes: 2 * 2 ** 30, maxResultBytesInFlight: 128 * 2 ** 20,
};

/** What a result body counts against the budget: its declared length, or the most it may be. */
function resultWeight(contentLength: string | undefined, maxResultBytes: number): number {
  const declared = Number(contentLength);
  return contentLength !== undefined && Number.isSafeInteger(declared) && declared >= 0 ? Math.min(declared, maxResultBytes) : maxResultBytes;
}

/**
 * `body`, failing with `too_large` as soon as more than `limit` bytes came
 * through: a store reading it (to a temp file, to S3) then fails, and keeps
 * nothing of it.
 */
function limitedStream(body: ReadableStream<Uint8Array>, limit: number, what: string): ReadableStream<Uint8Array> {
  let total = 0;
  return body.pipeThrough(
    new TransformStream<Uint8Array, Uint8Array>({
      transform(chunk, controller) {
        total += chunk.byteLength;
        if (total > limit) controller.error(new DtError("too_large", `${what}: body exceeds the limit of ${limit} bytes`));
        else controller.enqueue(chunk);
      },
    }),
  );
}

function object(value: unknown, what: string): Record<string, unknown> {
  if (value === null || typeof value !== "object" || Array.isArray(value)) throw new DtError("invalid_input", `${what} must be a JSON object`);
  return value as Record<string, unknown>;
}

function slaveName(value: unknown): string {
  if (typeof value !== "string" || !/^[A-Za-z0-9._:@-]{1,200}$/.test(value)) throw new DtError("invalid_input", "slave.name must be 1-200 characters of letters, digits and ._:@-");
  return value;
}

function identity(value: unknown): SlaveIdentity {
  const s = object(value, "slave");
  slaveName(s.name);
  if (typeof s.slots !== "number" || !Number.isInteger(s.slots) || s.slots < 0 || s.slots > 1024) throw new DtError("invalid_input", "slave.slots must be an integer from 0 to 1024");
  const dims = object(s.dimensions ?? {}, "slave.dimensions");
  for (const [k, v] of Object.entries(dims)) if (typeof v !== "string") throw new DtError("invalid_input", `slave.dimensions.${k} must be a string`);
  const metricsUrl = s.metrics_url === undefined || s.metrics_url === null ? undefined : s.metrics_url;
  if (metricsUrl !== undefined && (typeof metricsUrl !== "string" || !/^https?:\/\/[^\s]{1,300}$/.test(metricsUrl))) throw new DtError("invalid_input", "slave.metrics_url must be an http(s) URL");
  return {
    name: s.name as string, slots: s.slots, dimensions: dims as Record<string, string>, version: typeof s.version === "string" ? s.version.slice(0, 100) : "unknown", draining: s.draining === true,
    ...(s.hold === undefined || s.hold === null ? {} : { hold: hold(s.hold) }),
    ...(metricsUrl === undefined ? {} : { metrics_url: metricsUrl }),
  };
}

function hold(value: unknown): SlaveHold {
  const h = object(value, "slave.hold");
  if (h.kind !== "drain" && h.kind !== "quarantine") throw new DtError("invalid_input", "slave.hold.kind must be drain or quarantine");
  if (h.by !== "self" && h.by !== "operator") throw new DtError("invalid_input", "slave.hold.by must be self or operator");
  if (typeof h.reason !== "string") throw new DtError("invalid_input", "slave.hold.reason must be a string");
  if (typeof h.since !== "number" || !Number.isSafeInteger(h.since)) throw new DtError("invalid_input", "slave.hold.since must be epoch milliseconds");
  return { kind: h.kind, by: h.by, reason: h.reason.slice(0, 2000), since: h.since };
}

function leaseIdOf(value: string | undefined): string {
  if (!value || !/^[A-Za-z0-9-]{1,100}$/.test(value)) throw new DtError("invalid_input", "the query must name the lease: ?lease=<lease_id>");
  return value;
}

/** The slave protocol of protocol.ts, under /api/v1/slave. */
export function slaveRoutes(master: Master, limits: SlaveBodyLimits = DEFAULT_SLAVE_BODY_LIMITS, resultBudget = new ByteBudget(limits.maxResultBytesInFlight)): Hono {
  const { maxJsonBytes, maxResultBytes, maxLogChunkBytes, maxOutputBytes } = limits;
  const app = new Hono();
  /**
   * The attempt a lease's output belongs to, refused (404) when the master
   * no longer holds the lease or, when the sender names itself (?slave=),
   * another slave does: a second taker of a beanstalkd job must neither
   * write into the holder's log nor keep the holder's lease alive.
   */
  const target = (leaseId: string, sender: string | undefined) => {
    const t = master.dispatcher.leaseTarget(leaseId);
    if (!t) throw new DtError("not_found", `lease ${leaseId} is not held by any slave (expired or already reported)`);
    if (sender !== undefined && t.slave !== undefined && t.slave !== sender) throw new DtError("not_found", `lease ${leaseId} is held by slave ${t.slave}, not ${sender}`);
    // Only the slave running the lease knows its id: its output is as good as a heartbeat.
    master.dispatcher.extendLease(leaseId);
    return t;
  };
  const senderOf = (value: string | undefined) => (value === undefined ? undefined : slaveName(value));

  app.post("/lease", async (c) => {
    const body = object(await readJsonLimited(c.req.raw, maxJsonBytes, "POST lease"), "lease request");
    const free = body.free;
    const wait = body.wait_ms ?? 0;
    if (typeof free !== "number" || !Number.isInteger(free) || free < 0 || free > 1024) throw new DtError("invalid_input", "free must be an integer from 0 to 1024");
    if (typeof wait !== "number" || !Number.isFinite(wait) || wait < 0) throw new DtError("invalid_input", "wait_ms must be a non-negative number");
    const request: LeaseRequest = { slave: identity(body.slave), free, wait_ms: wait };
    const leases = await master.dispatcher.lease(request, c.req.raw.signal);
    // An instruction given while the poll was held goes out with its answer.
    const command = master.dispatcher.slaves.get(request.slave.name)?.pending;
    const response: LeaseResponse = command ? { leases, command } : { leases };
    return c.json(response);
  });

  app.post("/heartbeat", async (c) => {
    const body = object(await readJsonLimited(c.req.raw, maxJsonBytes, "POST heartbeat"), "heartbeat");
    if (!Array.isArray(body.leases)) throw new DtError("invalid_input", "leases must be a list of {lease_id, phase}");
    const leases = body.leases.map((l, i) => {
      const o = object(l, `leases[${i}]`);
      if (typeof o.lease_id !== "string") throw new DtError("invalid_input", `leases[${i}].lease_id must be a string`);
      if (o.phase !== "FETCHING" && o.phase !== "RUNNING" && o.phase !== "UPLOADING") throw new DtError("invalid_input", `leases[${i}].phase must be FETCHING, RUNNING or UPLOADING`);
      return { lease_id: o.lease_id, phase: o.phase as SlavePhase };
    });
    const request: HeartbeatRequest = { slave: identity(body.slave), leases };
    return c.json(await master.dispatcher.heartbeat(request));
  });

  app.post("/claim", async (c) => {
    const body = object(await readJsonLimited(c.req.raw, maxJsonBytes, "POST claim"), "claim");
    if (typeof body.lease_id !== "string" || !/^[A-Za-z0-9-]{1,100}$/.test(body.lease_id)) throw new DtError("invalid_input", "lease_id must be the lease's id: 1-100 letters, digits and -");
    if (body.life !== undefined && (typeof body.life !== "string" || !/^[A-Za-z0-9-]{1,100}$/.test(body.life))) throw new DtError("invalid_input", "life must be the slave process's id: 1-100 letters, digits and -");
    const request: ClaimRequest = { slave: identity(body.slave), lease_id: body.lease_id, ...(body.life !== undefined ? { life: body.life as string } : {}) };
    return c.json(await master.dispatcher.claimOffer(request));
  });

  app.post("/log", async (c) => {
    const leaseId = leaseIdOf(c.req.query("lease"));
    const stream = c.req.query("stream");
    const offset = Number(c.req.query("offset"));
    if (stream !== "stdout" && stream !== "stderr") throw new DtError("invalid_input", "stream must be stdout or stderr");
    if (!Number.isSafeInteger(offset) || offset < 0) throw new DtError("invalid_input", "offset must be a non-negative integer");
    const t = target(leaseId, senderOf(c.req.query("slave")));
    const key = outputKey(t.jobId, t.taskId, t.attempt, stream);
    const bytes = await readBodyLimited(c.req.raw, maxLogChunkBytes, "POST log");
    // The live log is a copy of what PUT output uploads at the end, under the same bound, so appends cannot fill the disk either.
    if (offset + bytes.byteLength > maxOutputBytes) throw new DtError("too_large", `log ${key}: ${offset + bytes.byteLength} bytes would exceed the limit of ${maxOutputBytes} per log`);
    const size = master.deps.liveLogs.size(key);
    if (offset > size) {
      // A gap: the slave resends from `size`, which it can read from its log file.
      return c.json({ error: `log ${key}: chunk starts at ${offset} but the log has ${size} bytes; resend from ${size}`, code: "invalid_input", size }, 409);
    }
    return c.json({ size: master.deps.liveLogs.append(key, offset, bytes) });
  });

  app.put("/output", async (c) => {
    const leaseId = leaseIdOf(c.req.query("lease"));
    const kind = c.req.query("kind");
    if (kind !== "stdout" && kind !== "stderr" && kind !== "artifacts") throw new DtError("invalid_input", "kind must be stdout, stderr or artifacts");
    const t = target(leaseId, senderOf(c.req.query("slave")));
    const key = outputKey(t.jobId, t.taskId, t.attempt, kind);
    // The length lets a store that uploads elsewhere (S3) stream the body through instead of spooling it.
    const length = c.req.header("content-length");
    if (length !== undefined && !/^\d+$/.test(length)) throw new DtError("invalid_input", `Content-Length ${JSON.stringify(length)} is not a byte count`);
    const what = `PUT output ${key}`;
    if (length !== undefined && Number(length) > maxOutputBytes) throw new DtError("too_large", `${what}: body of ${length} bytes exceeds the limit of ${maxOutputBytes}`);
    const body = c.req.raw.body ? limitedStream(c.req.raw.body, maxOutputBytes, what) : new Uint8Array(0);
    await master.deps.artifacts.put(key, body, length === undefined ? undefined : Number(length));
    return c.json({ key });
  });

  app.get("/queue", (c) => c.json(master.queueInfo()));

  app.post("/result", async (c) => {
    // Held from reading the body to the answer: the parsed cases live until they are stored.
    const release = await resultBudget.take(resultWeight(c.req.header("content-length"), maxResultBytes), c.req.raw.signal, "POST result");
    try {
      const body = object(await readJsonLimited(c.req.raw, maxResultBytes, "POST result"), "result");
      return c.json(await master.dispatcher.report(parseReport(body)));
    } finally {
      release();
    }
  });

  return app;
}

const REPORTED = new Set(["SUCCEEDED", "FAILED", "TIMED_OUT", "CANCELED", "INFRA_FAILED"]);

function nullableInt(value: unknown, what: string): number | null {
  if (value === null || value === undefined) return null;
  if (typeof value !== "number" || !Number.isSafeInteger(value)) throw new DtError("invalid_input", `${what} must be an integer or null`);
  return value;
}

function nullableString(value: unknown, what: string, max = 10_000): string | null {
  if (value === null || value === undefined) return null;
  if (typeof value !== "string") throw new DtError("invalid_input", `${what} must be a string or null`);
  return value.slice(0, max);
}

/** A result report, checked field by field. */
export function parseReport(body: Record<string, unknown>): ResultReport {
  if (typeof body.lease_id !== "string") throw new DtError("invalid_input", "lease_id must be a string");
  if (typeof body.state !== "string" || !REPORTED.has(body.state)) throw new DtError("invalid_input", "state must be SUCCEEDED, FAILED, TIMED_OUT, CANCELED or INFRA_FAILED");
  const times = object(body.times ?? {}, "times");
  let cache: ResultReport["cache"] = null;
  if (body.cache !== null && body.cache !== undefined) {
    const c = object(body.cache, "cache");
    cache = {
      itemsHot: nullableInt(c.itemsHot, "cache.itemsHot") ?? 0, bytesHot: nullableInt(c.bytesHot, "cache.bytesHot") ?? 0,
      itemsCold: nullableInt(c.itemsCold, "cache.itemsCold") ?? 0, bytesCold: nullableInt(c.bytesCold, "cache.bytesCold") ?? 0,
    };
  }
  return {
    lease_id: body.lease_id,
    job_id: nullableString(body.job_id, "job_id", 200) ?? "",
    task_id: nullableString(body.task_id, "task_id", 200) ?? "",
    attempt: nullableInt(body.attempt, "attempt") ?? 0,
    state: body.state as ResultReport["state"],
    exit_code: nullableInt(body.exit_code, "exit_code"),
    message: nullableString(body.message, "message"),
    times: {
      fetch_done_at: nullableInt(times.fetch_done_at, "times.fetch_done_at"),
      map_done_at: nullableInt(times.map_done_at, "times.map_done_at"),
      command_start_at: nullableInt(times.command_start_at, "times.command_start_at"),
      command_end_at: nullableInt(times.command_end_at, "times.command_end_at"),
      upload_done_at: nullableInt(times.upload_done_at, "times.upload_done_at"),
    },
    cache,
    stdout_key: nullableString(body.stdout_key, "stdout_key", 500),
    stderr_key: nullableString(body.stderr_key, "stderr_key", 500),
    artifact_key: nullableString(body.artifact_key, "artifact_key", 500),
    artifact_missing: body.artifact_missing === true,
    outputs_ref: parseOutputsRef(body.outputs_ref, "outputs_ref"),
    ...(body.slave === undefined || body.slave === null ? {} : { slave: slaveName(body.slave) }),
    ...parseReportCases(body),
  };
}
