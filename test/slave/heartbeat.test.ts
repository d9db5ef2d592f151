/**
 * The slave's heartbeat loop (src/slave/heartbeat.ts) against a real HTTP
 * server on port 0 that records when each beat arrived and answers it as
 * the test scripts: ticks count from the last beat whatever the lease set
 * does, and a failed or hung beat is made good well inside the TTL.
 */
import { afterEach, describe, expect, test } from "bun:test";
import { createLogger } from "../../src/common/log.ts";
import type { HeartbeatRequest, Lease } from "../../src/master/protocol.ts";
import { HeartbeatLoop, type HeartbeatTarget } from "../../src/slave/heartbeat.ts";
import { MasterClient } from "../../src/slave/master-client.ts";
import { waitUntil } from "../helpers/wait.ts";

const log = createLogger({ level: "silent" });
const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

type Answer = "ok" | "fail" | "hang" | "slow";

/** A master whose heartbeat endpoint answers the n-th beat with `script[n]` (then "ok"), recording each beat with its arrival time. */
function beatRecorder(script: Answer[] = [], slowMs = 0) {
  const beats: { at: number; leases: string[] }[] = [];
  const listener = Bun.serve({
    port: 0,
    hostname: "127.0.0.1",
    async fetch(req) {
      const body = (await req.json()) as HeartbeatRequest;
      beats.push({ at: performance.now(), leases: body.leases.map((l) => l.lease_id) });
      const answer = script[beats.length - 1] ?? "ok";
      if (answer === "fail") return Response.json({ error: "scripted failure", code: "unreachable" }, { status: 503 });
      // Held until the slave gives up on it (or the server stops): a connection gone silent.
      if (answer === "hang") await new Promise((resolve) => req.signal.addEventListener("abort", resolve, { once: true }));
      // A master too busy to answer in time: it does the work (as the dispatcher would), whether or not the slave still waits.
      if (answer === "slow") await Bun.sleep(slowMs);
      return Response.json({ cancel: [], unknown: [] });
    },
  });
  cleanups.push(() => listener.stop(true));
  return { beats, master: new MasterClient(`http://127.0.0.1:${listener.port}`, { log }) };
}

function target(id: string, intervalMs: number, ttlMs: number): HeartbeatTarget {
  const lease: Lease = {
    lease_id: id, job_id: "j", task_id: `t.${id}`, attempt: 0, isolate_hash: "h", isolate_server: "http://cas", description: id,
    timeout: 0, artifact_archive_globs: [], env: {}, lease_ttl_ms: ttlMs, heartbeat_interval_ms: intervalMs,
  };
  return { lease, phase: "RUNNING", abort: () => {} };
}

function startLoop(master: MasterClient, targets: Map<string, HeartbeatTarget>): HeartbeatLoop {
  const loop = new HeartbeatLoop({ master, identity: () => ({ name: "s1", slots: 2, dimensions: {}, version: "test" }), targets: () => targets.values(), log });
  loop.start();
  cleanups.push(() => loop.stop());
  return loop;
}

describe("HeartbeatLoop", () => {
  test("a new lease more often than once an interval does not put off the beat of a lease already held", async () => {
    const { beats, master } = beatRecorder();
    const intervalMs = 300;
    const targets = new Map([["long", target("long", intervalMs, 3 * intervalMs)]]);
    const loop = startLoop(master, targets);
    loop.reschedule();
    // A slot running short tasks one after another: a lease comes and goes every 50 ms, six times an interval.
    let n = 0;
    const churn = setInterval(() => {
      targets.delete(`short-${n}`);
      targets.set(`short-${++n}`, target(`short-${n}`, intervalMs, 3 * intervalMs));
      loop.reschedule();
    }, 50);
    cleanups.push(() => clearInterval(churn));
    const started = performance.now();
    await waitUntil(() => performance.now() - started > 5 * intervalMs, "five intervals to pass", 10_000);
    clearInterval(churn);
    const forLong = beats.filter((b) => b.leases.includes("long"));
    // Before the fix every reschedule restarted the tick: no beat at all while the churn lasted.
    expect(forLong.length).toBeGreaterThanOrEqual(3);
    // No gap between beats (nor before the first) that would come near the TTL.
    const times = [started, ...forLong.map((b) => b.at)];
    for (let i = 1; i < times.length; i++) expect(times[i]! - times[i - 1]!).toBeLessThan(2 * intervalMs);
  }, 15_000);

  test("a failed beat is tried again after a quarter interval, not a whole one", async () => {
    const { beats, master } = beatRecorder(["fail"]);
    const intervalMs = 2_000;
    startLoop(master, new Map([["a", target("a", intervalMs, 3 * intervalMs)]])).poke();
    await waitUntil(() => beats.length >= 2, "the beat after the failed one", 10_000);
    // A quarter interval is 500 ms; a whole one (the old wait) is 2 s.
    expect(beats[1]!.at - beats[0]!.at).toBeLessThan(intervalMs * 0.75);
  }, 15_000);

  test("a beat that hangs is abandoned after a quarter of the TTL and tried again well before the TTL", async () => {
    const { beats, master } = beatRecorder(["hang"]);
    const ttlMs = 2_000;
    startLoop(master, new Map([["a", target("a", ttlMs / 2, ttlMs)]])).poke();
    // Before, a hung beat held the loop for the client's 30 s request timeout: every lease of the slave lapsed meanwhile.
    await waitUntil(() => beats.length >= 2, "a second beat after the hung one", 10_000);
    expect(beats[1]!.at - beats[0]!.at).toBeLessThan(ttlMs / 2);
  }, 15_000);

  test("a master slower than a quarter TTL on every beat gets no storm: one request per beat for all 64 leases, at most one per interval after two quick retries", async () => {
    const ttlMs = 800;
    const intervalMs = ttlMs / 2;
    // Every beat takes longer than the slave waits (a quarter TTL, 200 ms).
    const { beats, master } = beatRecorder(Array.from({ length: 1000 }, () => "slow" as const), 300);
    const targets = new Map(Array.from({ length: 64 }, (_, i) => [`l${i}`, target(`l${i}`, intervalMs, ttlMs)] as const));
    startLoop(master, targets).poke();
    const started = performance.now();
    await waitUntil(() => performance.now() - started > 10 * intervalMs, "ten intervals to pass", 15_000);
    const elapsed = performance.now() - started;
    expect(beats.every((b) => b.leases.length === 64)).toBe(true);
    // The first beat, two retries at once after each was given up on, then one an interval (a given-up beat already took a quarter TTL of it); 11 here in 4 s. Retrying at once after every give-up would be 20.
    expect(beats.length).toBeGreaterThanOrEqual(5);
    expect(beats.length).toBeLessThanOrEqual(3 + Math.ceil(elapsed / intervalMs));
  }, 20_000);
});

