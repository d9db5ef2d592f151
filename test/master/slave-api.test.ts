/**
 * The slave protocol's HTTP layer (src/master/http/slave-api.ts) on a real
 * server on port 0: malformed input to every endpoint is a JSON 400 naming
 * what is wrong, never a 500, and changes nothing stored.
 */
import { afterEach, describe, expect, test } from "bun:test";
import { createLogger } from "../../src/common/log.ts";
import { isDtError } from "../../src/common/errors.ts";
import { outputKey } from "../../src/master/protocol.ts";
import { MasterClient } from "../../src/slave/master-client.ts";
import { TEST_BACKOFF } from "../slave/harness.ts";
import { HASH, report, slave, serveTestMasterApp } from "./helpers.ts";

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0)) await c();
});

async function serve() {
  const served = await serveTestMasterApp();
  cleanups.push(served.stop);
  const { h } = served;
  const base = `${served.url}/api/v1/slave`;
  const url = served.url;
  const post = (path: string, body: unknown) => fetch(`${base}${path}`, { method: "POST", headers: { "content-type": "application/json" }, body: typeof body === "string" ? body : JSON.stringify(body) });
  return { h, base, url, post };
}

async function expect400(res: Response, message: RegExp): Promise<void> {
  expect(res.status).toBe(400);
  const body = (await res.json()) as { error: string; code: string };
  expect(body.code).toBe("invalid_input");
  expect(body.error).toMatch(message);
}

describe("slave protocol: malformed input", () => {
  test("lease: bad JSON, a missing slave, bad free and wait_ms", async () => {
    const { post } = await serve();
    expect((await post("/lease", "{not json")).status).toBe(400);
    await expect400(await post("/lease", { free: 1 }), /slave must be a JSON object/);
    await expect400(await post("/lease", { slave: { ...slave(), name: "bad name!" }, free: 1 }), /slave.name/);
    await expect400(await post("/lease", { slave: slave(), free: -1 }), /free must be/);
    await expect400(await post("/lease", { slave: slave(), free: 1, wait_ms: "soon" }), /wait_ms/);
  });

  test("heartbeat: leases not a list, a bad phase", async () => {
    const { post } = await serve();
    await expect400(await post("/heartbeat", { slave: slave(), leases: {} }), /leases must be a list/);
    await expect400(await post("/heartbeat", { slave: slave(), leases: [{ lease_id: "x", phase: "DANCING" }] }), /phase must be/);
  });

  test("claim: bad JSON, a missing slave, a bad lease id; an offer the master never made is refused, not a 500", async () => {
    const { post } = await serve();
    expect((await post("/claim", "[1,")).status).toBe(400);
    await expect400(await post("/claim", { lease_id: "abc" }), /slave must be a JSON object/);
    await expect400(await post("/claim", { slave: slave() }), /lease_id must be/);
    await expect400(await post("/claim", { slave: slave(), lease_id: "../../etc" }), /lease_id must be/);
    await expect400(await post("/claim", { slave: slave(), lease_id: "x".repeat(101) }), /lease_id must be/);
    await expect400(await post("/claim", { slave: slave(), lease_id: "abc", life: 7 }), /life must be/);
    await expect400(await post("/claim", { slave: slave(), lease_id: "abc", life: "a b" }), /life must be/);
    await expect400(await post("/claim", { slave: slave(), lease_id: "abc", life: "x".repeat(101) }), /life must be/);
    const refused = await post("/claim", { slave: slave(), lease_id: "never-offered" });
    expect(refused.status).toBe(200);
    expect(await refused.json()).toMatchObject({ claimed: false, reason: expect.stringContaining("never-offered is not offered") });
  });

  test("result: a bad state, a bad slave name, non-integer times; nothing stored", async () => {
    const { h, post } = await serve();
    await h.master.submitJob({ job_id: "j", tasks: [{ isolate_hash: HASH, description: "t" }] });
    const [lease] = await h.master.dispatcher.lease({ slave: slave(), free: 1, wait_ms: 0 });
    await expect400(await post("/result", { lease_id: lease!.lease_id, state: "GREAT" }), /state must be/);
    await expect400(await post("/result", { lease_id: lease!.lease_id, state: "SUCCEEDED", slave: "two words" }), /slave.name/);
    await expect400(await post("/result", { lease_id: lease!.lease_id, state: "SUCCEEDED", times: { command_start_at: 1.5 } }), /times.command_start_at/);
    expect((await h.master.deps.repo.getAttempts("j")).map((a) => a.state)).toEqual(["LEASED"]);
  });

  test("result: a malformed outputs_ref is a 400 naming the field, and nothing is stored; a good one is stored and shown by the native API", async () => {
    const { h, post, url } = await serve();
    await h.master.submitJob({ job_id: "j", tasks: [{ isolate_hash: HASH, description: "t" }] });
    const [lease] = await h.master.dispatcher.lease({ slave: slave(), free: 1, wait_ms: 0 });
    const body = (outputs_ref: unknown) => ({ ...report(lease!, "SUCCEEDED", 1_700_000_000_000), outputs_ref });
    const hash = "d".repeat(64);
    await expect400(await post("/result", body("abc")), /outputs_ref must be an object/);
    await expect400(await post("/result", body({ isolated: "xyz", isolatedserver: "http://cas" })), /outputs_ref\.isolated must be a SHA-256/);
    await expect400(await post("/result", body({ isolated: hash.toUpperCase(), isolatedserver: "http://cas" })), /outputs_ref\.isolated/);
    await expect400(await post("/result", body({ isolated: hash, isolatedserver: "ftp://cas" })), /outputs_ref\.isolatedserver must be an http\(s\) URL/);
    await expect400(await post("/result", body({ isolated: hash, isolatedserver: "not a url" })), /outputs_ref\.isolatedserver/);
    await expect400(await post("/result", body({ isolated: hash, isolatedserver: "http://cas", namespace: "a b" })), /outputs_ref\.namespace/);
    expect((await h.master.deps.repo.getAttempts("j")).map((a) => a.state)).toEqual(["LEASED"]);

    const ref = { isolated: hash, isolatedserver: "http://cas.example:4242", namespace: "sha-256" };
    expect((await post("/result", body(ref))).status).toBe(200);
    expect((await h.master.deps.repo.getAttempts("j"))[0]!.outputsRef).toEqual(ref);
    const { tasks } = (await (await fetch(`${url}/api/v1/jobs/j/tasks`)).json()) as { tasks: { attempts: { outputs_ref: unknown }[] }[] };
    expect(tasks[0]!.attempts[0]!.outputs_ref).toEqual(ref);
  });

  test("log and output: a missing lease, a bad stream, kind or offset", async () => {
    const { base } = await serve();
    await expect400(await fetch(`${base}/log?stream=stdout&offset=0`, { method: "POST", body: "x" }), /name the lease/);
    await expect400(await fetch(`${base}/log?lease=abc&stream=stdin&offset=0`, { method: "POST", body: "x" }), /stream must be/);
    await expect400(await fetch(`${base}/log?lease=abc&stream=stdout&offset=-3`, { method: "POST", body: "x" }), /offset must be/);
    await expect400(await fetch(`${base}/output?lease=abc&kind=core`, { method: "PUT", body: "x" }), /kind must be/);
  });

  test("queue: a master without beanstalkd tells slaves to long-poll it", async () => {
    const { base } = await serve();
    expect(await (await fetch(`${base}/queue`)).json()).toEqual({ kind: "master" });
  });
});

describe("slave protocol: a lease's own output keeps it alive", () => {
  test("log appends and output uploads extend the lease as a heartbeat does; silence still loses it", async () => {
    const { h, base } = await serve();
    await h.master.submitJob({ job_id: "j", tasks: [{ isolate_hash: HASH, description: "t", max_retries: 0 }] });
    const [lease] = await h.master.dispatcher.lease({ slave: slave(), free: 1, wait_ms: 0 });
    const id = lease!.lease_id;
    const states = async () => (await h.master.deps.repo.getAttempts("j")).map((a) => a.state);
    // 20 s steps on a 30 s TTL: without the appends the lease lapses at the second sweep.
    let offset = 0;
    for (let i = 0; i < 3; i++) {
      h.clock.advance(20_000);
      const res = await fetch(`${base}/log?lease=${id}&stream=stdout&offset=${offset}`, { method: "POST", body: "line\n" });
      expect(res.status).toBe(200);
      offset += 5;
      await h.master.dispatcher.sweep();
      expect(await states()).toEqual(["LEASED"]);
    }
    h.clock.advance(20_000);
    expect((await fetch(`${base}/output?lease=${id}&kind=stdout`, { method: "PUT", body: "all of it\n" })).status).toBe(200);
    await h.master.dispatcher.sweep();
    expect(await states()).toEqual(["LEASED"]);
    // Silent for a whole TTL: lost, as before.
    h.clock.advance(30_001);
    await h.master.dispatcher.sweep();
    expect((await states())[0]).toBe("SLAVE_LOST");
  });
});

describe("slave protocol: output never brings a lease back", () => {
  test("after the lease lapsed (swept) or was reported, its slave's appends and uploads are refused 404 and change nothing; the retry's lease lapses on its own time", async () => {
    const { h, base } = await serve();
    await h.master.submitJob({ job_id: "j", tasks: [{ isolate_hash: HASH, description: "t", max_retries: 0 }] });
    const [lost] = await h.master.dispatcher.lease({ slave: slave("s1"), free: 1, wait_ms: 0 });
    const append = (id: string) => fetch(`${base}/log?lease=${id}&stream=stdout&offset=0`, { method: "POST", body: "late line\n" });
    const upload = (id: string) => fetch(`${base}/output?lease=${id}&kind=stdout`, { method: "PUT", body: "late log\n" });
    const states = async () => (await h.master.deps.repo.getAttempts("j")).map((a) => a.state);

    h.clock.advance(30_001);
    await h.master.dispatcher.sweep();
    expect(await states()).toEqual(["SLAVE_LOST", "QUEUED"]);
    // The slave that lost it is still running and still talking.
    for (const res of [await append(lost!.lease_id), await upload(lost!.lease_id)]) {
      expect(res.status).toBe(404);
      expect(((await res.json()) as { error: string }).error).toContain("not held by any slave");
    }
    const [retry] = await h.master.dispatcher.lease({ slave: slave("s2"), free: 1, wait_ms: 0 });
    expect(await states()).toEqual(["SLAVE_LOST", "LEASED"]);
    // The lost lease's chatter goes on for longer than a TTL: it neither revives attempt 0 nor keeps attempt 1's lease.
    for (let i = 0; i < 4; i++) {
      h.clock.advance(10_000);
      expect((await append(lost!.lease_id)).status).toBe(404);
      await h.master.dispatcher.sweep();
    }
    expect(await states()).toEqual(["SLAVE_LOST", "SLAVE_LOST", "QUEUED"]);

    // Reported: the same.
    const [third] = await h.master.dispatcher.lease({ slave: slave("s2"), free: 1, wait_ms: 0 });
    await h.master.dispatcher.report(report(third!, "SUCCEEDED", h.clock.now()));
    expect((await append(third!.lease_id)).status).toBe(404);
    expect((await upload(third!.lease_id)).status).toBe(404);
    expect(await states()).toEqual(["SLAVE_LOST", "SLAVE_LOST", "SUCCEEDED"]);
    expect(retry!.lease_id).not.toBe(lost!.lease_id);
  });
});

describe("slave protocol: output from a slave that does not hold the lease", () => {
  test("a second taker (a beanstalkd job given to two slaves) is refused 404 through the slave's own client: it neither writes into the holder's log nor keeps the holder's lease alive", async () => {
    const { h, base, url } = await serve();
    await h.master.submitJob({ job_id: "j", tasks: [{ isolate_hash: HASH, description: "t", max_retries: 0 }] });
    const [lease] = await h.master.dispatcher.lease({ slave: slave("s1"), free: 1, wait_ms: 0 });
    const log = createLogger({ level: "silent" });
    const holder = new MasterClient(url, { log, slaveName: "s1", backoff: TEST_BACKOFF });
    const other = new MasterClient(url, { log, slaveName: "s2", backoff: TEST_BACKOFF });
    const bytes = (text: string) => new TextEncoder().encode(text);
    expect(await holder.appendLog(lease!.lease_id, "stdout", 0, bytes("s1 line\n"))).toBe(8);
    // The second taker runs the same command: its output would land in s1's log at the offset it names.
    const refused = await other.appendLog(lease!.lease_id, "stdout", 0, bytes("s2 line one\n")).then(() => null, (e: unknown) => e);
    expect(isDtError(refused, "not_found"), String(refused)).toBe(true);
    expect(String(refused)).toContain("held by slave s1, not s2");
    expect(isDtError(await other.uploadOutput(lease!.lease_id, "stdout", import.meta.path).then(() => null, (e: unknown) => e), "not_found")).toBe(true);
    // Nor does it keep s1's lease: s1 fell silent, s2 talks on for longer than a TTL.
    for (let i = 0; i < 4; i++) {
      h.clock.advance(10_000);
      await other.appendLog(lease!.lease_id, "stdout", 8, bytes("more of s2\n")).catch(() => null);
      await h.master.dispatcher.sweep();
    }
    expect((await h.master.deps.repo.getAttempts("j"))[0]!.state).toBe("SLAVE_LOST");
    // The live log holds s1's line alone.
    expect(h.master.deps.liveLogs.size(outputKey("j", lease!.task_id, 0, "stdout"))).toBe(8);
    // A slave that names itself badly is told so.
    const res = await fetch(`${base}/log?lease=${lease!.lease_id}&stream=stdout&offset=0&slave=${encodeURIComponent("no such name!")}`, { method: "POST", body: "x" });
    expect(res.status).toBe(400);
  });
});

