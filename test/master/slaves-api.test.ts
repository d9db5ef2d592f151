/**
 * The master's registry of slaves and what autoscalers read, over real
 * HTTP: operator instructions reach the slave with the answer to its next
 * call and hold it until it reports them done; infrastructure failures are
 * kept per slave; the queue's demand; autoscaler decisions; and malformed
 * input to each new endpoint.
 */
import { afterEach, describe, expect, test } from "bun:test";
import type { AutoscaleDecision, LeaseResponse, QueueDemand, SlaveHold, SlaveIdentity, SlaveView } from "../../src/master/protocol.ts";
import { waitUntil } from "../helpers/wait.ts";
import { HASH, report, slave, serveTestMasterApp } from "./helpers.ts";

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0)) await c();
});

async function serve() {
  const served = await serveTestMasterApp();
  cleanups.push(served.stop);
  const { h } = served;
  const base = `${served.url}/api/v1`;
  const post = (path: string, body?: unknown) =>
    fetch(`${base}${path}`, { method: "POST", headers: { "content-type": "application/json" }, body: body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body) });
  const get = async <T>(path: string): Promise<T> => {
    const res = await fetch(`${base}${path}`);
    expect(res.status).toBe(200);
    return (await res.json()) as T;
  };
  const lease = async (identity: SlaveIdentity, free = 1, wait_ms = 0) => (await (await post("/slave/lease", { slave: identity, free, wait_ms })).json()) as LeaseResponse;
  const submit = async (tasks: { dimensions?: Record<string, string>; description?: string }[]) => {
    const res = await post("/jobs", { tasks: tasks.map((t, i) => ({ isolate_hash: HASH, description: t.description ?? `t${i}`, ...(t.dimensions ? { dimensions: t.dimensions } : {}) })) });
    expect(res.status).toBe(201);
    return ((await res.json()) as { job_id: string }).job_id;
  };
  return { h, base, post, get, lease, submit };
}

const held = (kind: SlaveHold["kind"], since: number, reason: string): SlaveHold => ({ kind, by: "operator", reason, since });

describe("slave registry", () => {
  test("drain: the next answer carries it, no work while it is pending or held, resume lifts it", async () => {
    const { h, post, get, lease, submit } = await serve();
    expect((await lease(slave("s1"))).leases).toEqual([]);
    expect(await get<SlaveView>("/slaves/s1")).toMatchObject({ name: "s1", state: "idle", hold: null, pending_command: null, running: [], infra_failures: [], metrics_url: null });

    const drained = await post("/slaves/s1/drain", { reason: "reboot" });
    expect(drained.status).toBe(202);
    expect(await drained.json()).toMatchObject({ name: "s1", pending_command: { action: "drain", reason: "reboot" } });
    await submit([{}]);
    // Pending: the answer carries the instruction and no lease.
    expect(await lease(slave("s1"))).toEqual({ leases: [], command: { action: "drain", reason: "reboot" } });
    // The slave reports it done: no more instruction, still no work; the master shows it draining.
    const s1Held = { ...slave("s1"), hold: held("drain", h.clock.now(), "reboot") };
    expect(await lease(s1Held)).toEqual({ leases: [] });
    expect(await get<SlaveView>("/slaves/s1")).toMatchObject({ state: "draining", pending_command: null, hold: { kind: "drain", by: "operator", reason: "reboot" } });
    // Another slave gets the task meanwhile.
    expect((await lease(slave("s2"))).leases).toHaveLength(1);

    const resumed = await post("/slaves/s1/resume");
    expect(resumed.status).toBe(202);
    const beat = await (await post("/slave/heartbeat", { slave: s1Held, leases: [] })).json();
    expect(beat).toEqual({ cancel: [], unknown: [], command: { action: "resume", reason: "resume by an operator" } });
    await submit([{}]);
    expect((await lease(slave("s1"))).leases).toHaveLength(1);
    expect(await get<SlaveView>("/slaves/s1")).toMatchObject({ state: "busy", hold: null, pending_command: null });
  });

  test("a quarantine answers the slave's held long-poll at once", async () => {
    const { h, post, lease } = await serve();
    await lease(slave("s1"));
    const started = performance.now();
    const poll = lease(slave("s1"), 1, 20_000);
    // The poll is held by the master (the long-polls waiting for work); the instruction ends it.
    await waitUntil(() => (h.master.dispatcher as unknown as { waiters: Set<unknown> }).waiters.size === 1, "the lease poll to be held");
    expect((await post("/slaves/s1/quarantine", { reason: "bad disk" })).status).toBe(202);
    expect(await poll).toEqual({ leases: [], command: { action: "quarantine", reason: "bad disk" } });
    expect(performance.now() - started).toBeLessThan(5_000);
  });

  test("a slave's own quarantine shows as quarantined, and counts as no slave for NO_RESOURCE", async () => {
    const { h, get, lease } = await serve();
    const sick: SlaveIdentity = { ...slave("s1"), hold: { kind: "quarantine", by: "self", reason: "disk: /cache has 10 MiB free", since: 1 } };
    expect(await lease(sick)).toEqual({ leases: [] });
    expect(await get<SlaveView>("/slaves/s1")).toMatchObject({ state: "quarantined", hold: sick.hold });
    expect(h.master.dispatcher.slaves.canRun({}, h.clock.now())).toBe(false);
    expect(h.master.dispatcher.idleSlaves()).toBe(0);
  });

  test("a task whose matching slaves are all held past the timeout ends NO_RESOURCE naming each hold; a slave without its dimensions is not named", async () => {
    const { h, lease, submit } = await serve();
    const disk: SlaveHold = { kind: "quarantine", by: "self", reason: "disk: /cache has 10 MiB free, under the 1.0 GiB a task needs", since: 1 };
    const jobId = await submit([{ description: "linux", dimensions: { os: "linux" } }]);
    expect(await lease({ ...slave("s1", { os: "linux" }), hold: disk })).toEqual({ leases: [] });
    expect(await lease({ ...slave("s2", { os: "linux" }), hold: held("drain", 1, "kernel update") })).toEqual({ leases: [] });
    expect(await lease(slave("mac", { os: "mac" }))).toEqual({ leases: [] });
    await h.master.dispatcher.sweep();
    // Held for less than the timeout (600 s here): still waiting.
    h.clock.advance(599_000);
    await lease({ ...slave("s1", { os: "linux" }), hold: disk });
    await lease({ ...slave("s2", { os: "linux" }), hold: held("drain", 1, "kernel update") });
    await h.master.dispatcher.sweep();
    expect((await h.master.jobTasks(jobId)).tasks[0]!.attempts.map((a) => a.state)).toEqual(["QUEUED"]);
    h.clock.advance(2_000);
    await lease({ ...slave("s1", { os: "linux" }), hold: disk });
    await lease({ ...slave("s2", { os: "linux" }), hold: held("drain", 1, "kernel update") });
    await h.master.dispatcher.sweep();
    const [attempt] = (await h.master.jobTasks(jobId)).tasks[0]!.attempts;
    expect(attempt!.state).toBe("NO_RESOURCE");
    expect(attempt!.message).toBe(
      'every live slave with the dimensions [["os","linux"]] is held: s1 (quarantined by itself: disk: /cache has 10 MiB free, under the 1.0 GiB a task needs); s2 (draining by an operator: kernel update) (waited 601 s)',
    );
    expect((await h.master.jobSummary(jobId)).status).toBe("finished");
    // No slave at all with the dimensions: said so.
    const gpu = await submit([{ description: "gpu", dimensions: { gpu: "yes" } }]);
    await h.master.dispatcher.sweep();
    h.clock.advance(601_000);
    await lease(slave("mac", { os: "mac" }));
    await h.master.dispatcher.sweep();
    expect((await h.master.jobTasks(gpu)).tasks[0]!.attempts[0]!.message).toBe('no live slave has the dimensions [["gpu","yes"]] (waited 601 s)');
  });

  test("infrastructure failures are kept per slave, newest first, with SLAVE_LOST from lapsed leases", async () => {
    const { h, post, get, lease, submit } = await serve();
    const jobId = await submit([{ description: "a" }, { description: "b" }]);
    const [first, second] = (await lease(slave("s1"), 2)).leases;
    const infra = { ...report(first!, "INFRA_FAILED", h.clock.now()), message: "fetch failed: 503" };
    expect((await post("/slave/result", infra)).status).toBe(200);
    h.clock.advance(31_000);
    await h.master.dispatcher.sweep();
    const view = await get<SlaveView>("/slaves/s1");
    expect(view.state).toBe("lost");
    expect(view.infra_failures).toEqual([
      { at: h.clock.now(), job_id: jobId, task_id: second!.task_id, attempt: 0, state: "SLAVE_LOST", message: "slave s1 stopped heartbeating", description: "b" },
      { at: h.clock.now() - 31_000, job_id: jobId, task_id: first!.task_id, attempt: 0, state: "INFRA_FAILED", message: "fetch failed: 503", description: "a" },
    ]);
  });

  test("malformed input: unknown slave, bad bodies, bad holds and metrics URLs; nothing changes", async () => {
    const { base, post, get, lease } = await serve();
    await lease(slave("s1"));
    for (const action of ["drain", "quarantine", "resume"]) {
      const res = await post(`/slaves/nobody/${action}`);
      expect(res.status).toBe(404);
      expect(await res.json()).toMatchObject({ code: "not_found", error: expect.stringContaining('no slave "nobody"') });
    }
    const unknown = await fetch(`${base}/slaves/nobody`);
    expect(unknown.status).toBe(404);
    const bad: [unknown, RegExp][] = [
      ["{not json", /JSON/],
      [[1], /must be \{"reason"/],
      [{ reason: 7 }, /reason must be a string/],
      [{ reason: "x".repeat(2001) }, /at most 2000/],
      [{ reason: "a", force: true }, /unknown field "force"/],
      ['{"reason":"a","reason":"b"}', /reason/],
    ];
    for (const [body, message] of bad) {
      const res = await post("/slaves/s1/quarantine", body);
      expect(res.status).toBe(400);
      expect(((await res.json()) as { error: string }).error).toMatch(message);
    }
    expect((await post("/slaves/s1/drain", "x".repeat(20_000))).status).toBe(413);
    const badIdentities: [Record<string, unknown>, RegExp][] = [
      [{ hold: "drain" }, /slave.hold must be a JSON object/],
      [{ hold: { kind: "nap", by: "self", reason: "", since: 1 } }, /hold.kind/],
      [{ hold: { kind: "drain", by: "god", reason: "", since: 1 } }, /hold.by/],
      [{ hold: { kind: "drain", by: "self", reason: 1, since: 1 } }, /hold.reason/],
      [{ hold: { kind: "drain", by: "self", reason: "", since: "now" } }, /hold.since/],
      [{ metrics_url: "javascript:alert(1)" }, /metrics_url/],
      [{ metrics_url: 8080 }, /metrics_url/],
    ];
    for (const [extra, message] of badIdentities) {
      const res = await post("/slave/lease", { slave: { ...slave("s1"), ...extra }, free: 1, wait_ms: 0 });
      expect(res.status).toBe(400);
      expect(((await res.json()) as { error: string }).error).toMatch(message);
    }
    expect(await get<SlaveView>("/slaves/s1")).toMatchObject({ state: "idle", hold: null, pending_command: null });
  });
});

describe("what autoscalers read and report", () => {
  test("GET /queue: queued tasks and known work per dimension set; running ones apart", async () => {
    const { h, get, lease, submit } = await serve();
    await h.master.deps.repo.recordDuration("slow", 120_000, h.clock.now());
    await submit([{ description: "slow" }, { description: "new" }, { description: "gpu", dimensions: { gpu: "1" } }]);
    const demand = await get<QueueDemand>("/queue");
    expect(demand).toEqual({
      queued_tasks: 3, queued_known_work_ms: 120_000, queued_unknown_tasks: 2, running_tasks: 0,
      by_dimensions: [
        { key: "[[\"gpu\",\"1\"]]", dimensions: { gpu: "1" }, queued_tasks: 1, queued_known_work_ms: 0, queued_unknown_tasks: 1 },
        { key: "[]", dimensions: {}, queued_tasks: 2, queued_known_work_ms: 120_000, queued_unknown_tasks: 1 },
      ],
    });
    await lease(slave("s1"), 1);
    expect(await get<QueueDemand>("/queue")).toMatchObject({ queued_tasks: 2, running_tasks: 1 });
  });

  test("decisions: posted ones are listed newest first, the latest 50 kept; malformed ones are refused", async () => {
    const { post, get } = await serve();
    const decision = (i: number): AutoscaleDecision => ({ at: 1_700_000_000_000 + i, autoscaler: "ci-host local", action: "grow", from: i, to: i + 1, reason: `queue ${i}` });
    for (let i = 0; i < 52; i++) expect((await post("/autoscaler/decisions", decision(i))).status).toBe(201);
    const { decisions } = await get<{ decisions: AutoscaleDecision[] }>("/autoscaler/decisions");
    expect(decisions).toHaveLength(50);
    expect(decisions[0]).toEqual(decision(51));
    expect(decisions[49]).toEqual(decision(2));
    const bad: [unknown, RegExp][] = [
      ["nope", /JSON/],
      [{ ...decision(0), action: "explode" }, /action must be/],
      [{ ...decision(0), to: -1 }, /to must be an integer/],
      [{ ...decision(0), reason: "" }, /reason must be a string/],
      [{ ...decision(0), at: "yesterday" }, /at must be epoch/],
      [{ ...decision(0), slaves: [1] }, /slaves must be a list/],
    ];
    for (const [body, message] of bad) {
      const res = await post("/autoscaler/decisions", body);
      expect(res.status).toBe(400);
      expect(((await res.json()) as { error: string }).error).toMatch(message);
    }
    expect((await get<{ decisions: AutoscaleDecision[] }>("/autoscaler/decisions")).decisions).toHaveLength(50);
  });
});
