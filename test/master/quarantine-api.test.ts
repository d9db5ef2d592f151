/**
 * Quarantine through a real master's HTTP API (startMasterServer, port 0,
 * SQLite): entries added, listed and removed, with malformed and hostile
 * input refused by field; a job whose only failures are quarantined is
 * finished and not failed (native counts, dist_test's job_status), is not
 * retried, and its cases say why; a failure beside them still fails it; and
 * the master quarantining a case by itself above a flake rate.
 */
import { afterAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { systemClock } from "../../src/common/clock.ts";
import { createLogger } from "../../src/common/log.ts";
import type { CaseReport, JobCasesPage, JobSummary, Lease, QuarantineList, QuarantineView, TaskView } from "../../src/master/protocol.ts";
import { AUTO_QUARANTINE_DEFAULTS, type AutoQuarantineConfig } from "../../src/master/quarantine/auto.ts";
import { startMasterServer } from "../../src/master/server.ts";
import { putManifest, slave } from "./helpers.ts";

const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

const pass = (suite: string, name: string): CaseReport => ({ suite, name, status: "passed", duration_ms: 5, message: null, file: null, line: null });
const fail = (suite: string, name: string, message = "boom"): CaseReport => ({ suite, name, status: "failed", duration_ms: 7, message, file: "t.cc", line: 3 });

async function withServer(body: (api: Api) => Promise<void>, autoQuarantine?: AutoQuarantineConfig): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "dt-quarantine-"));
  dirs.push(dir);
  const server = await startMasterServer({
    port: 0, host: "127.0.0.1", db: "sqlite", dataDir: dir, clock: systemClock, log: createLogger({ level: "silent" }),
    dispatch: { leaseTtlMs: 60_000, heartbeatIntervalMs: 5_000, noResourceTimeoutMs: 600_000, maxWaitMs: 1_000, maxInfraRequeues: 3, autoQuarantine },
  });
  try {
    await body(new Api(server.url, await putManifest(server.url)));
  } finally {
    await server.stop(1_000);
  }
}

class Api {
  constructor(readonly url: string, readonly hash: string) {}
  send(method: string, path: string, body?: unknown): Promise<Response> {
    return fetch(`${this.url}${path}`, { method, headers: { "content-type": "application/json" }, body: body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body) });
  }
  async json<T>(path: string): Promise<T> {
    const res = await fetch(`${this.url}${path}`);
    expect(res.status, `GET ${path}: ${res.status}`).toBe(200);
    return (await res.json()) as T;
  }
  async add(body: unknown): Promise<QuarantineView> {
    const res = await this.send("POST", "/api/v1/quarantine", body);
    expect(res.status, await res.clone().text()).toBe(201);
    return (await res.json()) as QuarantineView;
  }
  async submit(jobId: string, maxRetries = 0): Promise<void> {
    const res = await this.send("POST", "/api/v1/jobs", { job_id: jobId, tasks: [{ isolate_hash: this.hash, description: "bin", max_retries: maxRetries }] });
    expect(res.status).toBe(201);
  }
  async lease(): Promise<Lease> {
    const leases = ((await (await this.send("POST", "/api/v1/slave/lease", { slave: slave(), free: 1, wait_ms: 0 })).json()) as { leases: Lease[] }).leases;
    expect(leases.length).toBe(1);
    return leases[0]!;
  }
  async report(lease: Lease, state: "SUCCEEDED" | "FAILED", cases: CaseReport[]): Promise<void> {
    const now = Date.now();
    const res = await this.send("POST", "/api/v1/slave/result", {
      lease_id: lease.lease_id, job_id: lease.job_id, task_id: lease.task_id, attempt: lease.attempt, state, exit_code: state === "SUCCEEDED" ? 0 : 1, message: null,
      times: { fetch_done_at: now, map_done_at: now, command_start_at: now, command_end_at: now + 10, upload_done_at: now + 10 },
      cache: null, stdout_key: null, stderr_key: null, artifact_key: null, artifact_missing: false, slave: "s1", cases, result_format: "gtest-xml",
    });
    expect(res.status, await res.clone().text()).toBe(200);
  }
}

async function expect400(res: Response, field: RegExp): Promise<void> {
  const body = (await res.json()) as { error: string; code: string };
  expect(res.status, body.error).toBe(400);
  expect(body.code).toBe("invalid_input");
  expect(body.error).toMatch(field);
}

test("add, list and remove entries; malformed bodies are a 400 naming the field; hostile text is stored as given", async () => {
  await withServer(async (api) => {
    const hostile = `<img src=x onerror=alert(1)> "quotes" & ${"\u202e"}`;
    const a = await api.add({ suite: "MathTest", name: "FailsOnPurpose", reason: hostile, user: "alice" });
    expect(a).toMatchObject({ binary: null, suite: "MathTest", name: "FailsOnPurpose", reason: hostile, created_by: "alice", until: null, removed_at: null, active: true });
    const until = Date.now() + 3_600_000;
    const b = await api.add({ binary: "bin", suite: "S", name: "x", until });
    expect(b).toMatchObject({ reason: "quarantined by unknown", created_by: "unknown", until });
    expect((await api.json<QuarantineList>("/api/v1/quarantine")).entries.map((e) => e.id)).toEqual([b.id, a.id]);
    // The same test again while active: refused, naming the entry to remove.
    await expect400(await api.send("POST", "/api/v1/quarantine", { suite: "MathTest", name: "FailsOnPurpose" }), new RegExp(`entry ${a.id}`));

    const removed = await api.send("DELETE", `/api/v1/quarantine/${a.id}?user=bob`);
    expect(removed.status).toBe(200);
    expect(await removed.json()).toMatchObject({ id: a.id, removed_by: "bob", active: false });
    expect((await api.json<QuarantineList>("/api/v1/quarantine")).entries.map((e) => e.id)).toEqual([b.id]);
    expect((await api.json<QuarantineList>("/api/v1/quarantine?all=1")).entries.map((e) => [e.id, e.active])).toEqual([[b.id, true], [a.id, false]]);
    expect((await api.send("DELETE", "/api/v1/quarantine/424242")).status).toBe(404);

    const bad: [unknown, RegExp][] = [
      ["", /POST quarantine body/],
      ["{\"suite\": \"S\", \"suite\": \"T\", \"name\": \"n\"}", /suite/],
      [[], /JSON object/],
      [{ name: "n" }, /suite: must be a string/],
      [{ suite: "S" }, /name: must be a string/],
      [{ suite: "", name: "n" }, /suite: must not be empty/],
      [{ suite: "S", name: "n", until: "tomorrow" }, /until: must be epoch milliseconds/],
      [{ suite: "S", name: "n", until: 1_000 }, /until: .* is not in the future/],
      [{ suite: "S", name: "n", reason: 7 }, /reason: must be a string/],
      [{ suite: "S", name: "n", reason: "r".repeat(2_001) }, /reason: is 2001 characters; at most 2000/],
      [{ suite: "S", name: "n\u0000" }, /name: must not contain NUL/],
      [{ suite: "S", name: "n", binary: "b".repeat(256) }, /binary: is 256 characters/],
      [{ suite: "S", name: "n", colour: "red" }, /"colour": is not a field/],
      [{ suite: "S", name: "\ud800" }, /lone UTF-16 surrogate/],
    ];
    for (const [body, field] of bad) await expect400(await api.send("POST", "/api/v1/quarantine", body), field);
    await expect400(await api.send("DELETE", "/api/v1/quarantine/abc"), /quarantine id: must be a positive integer/);
    await expect400(await api.send("GET", "/api/v1/quarantine?all=yes"), /all: must be 1/);
    await expect400(await api.send("GET", "/api/v1/quarantine?toString=1"), /toString: is not a parameter/);
    // Nothing of the refused bodies was stored.
    expect((await api.json<QuarantineList>("/api/v1/quarantine?all=1")).entries.length).toBe(2);
  });
});

test("a job failed only by quarantined cases finishes passed and is not retried (unless one crashed); its cases and tasks say quarantined; a failure beside them still fails the job; removing the entry fails the next job", async () => {
  await withServer(async (api) => {
    const entry = await api.add({ suite: "S", name: "flaky", reason: "<script>alert(1)</script> BUG-1" });
    await api.submit("q1", 2);
    await api.report(await api.lease(), "FAILED", [pass("S", "ok"), fail("S", "flaky")]);
    const s1 = await api.json<JobSummary>("/api/v1/jobs/q1");
    expect(s1.status).toBe("finished");
    expect(s1.counts).toMatchObject({ failed: 0, quarantined: 1, retries: 0, finished: 1 });
    const tasks = (await api.json<{ tasks: TaskView[] }>("/api/v1/jobs/q1/tasks")).tasks;
    expect(tasks[0]!.group).toBe("quarantined");
    expect(tasks[0]!.attempts.map((a) => [a.state, a.quarantined])).toEqual([["FAILED", true]]);
    const page = await api.json<JobCasesPage>("/api/v1/jobs/q1/cases?status=failed");
    expect(page.cases.map((c) => [c.name, c.quarantined])).toEqual([["flaky", { id: entry.id, reason: "<script>alert(1)</script> BUG-1", until: null }]]);
    const dist = await api.json<Record<string, unknown>>("/job_status?job_id=q1");
    expect(dist).toMatchObject({ status: "finished", failed_groups: 0, succeeded_groups: 1, succeeded_tasks: 1, failed_tasks: 0 });

    // Beside another failure: failed and retried as ever; the quarantined case is still marked.
    await api.submit("q2", 0);
    await api.report(await api.lease(), "FAILED", [fail("S", "flaky"), fail("S", "real")]);
    expect((await api.json<JobSummary>("/api/v1/jobs/q2")).counts).toMatchObject({ failed: 1, quarantined: 0 });
    const marked = (await api.json<JobCasesPage>("/api/v1/jobs/q2/cases?status=failed")).cases.map((c) => [c.name, c.quarantined?.id ?? null]);
    expect(marked).toEqual([["flaky", entry.id], ["real", null]]);

    // Removed: the next job fails; the first keeps its verdict.
    expect((await api.send("DELETE", `/api/v1/quarantine/${entry.id}`)).status).toBe(200);
    await api.submit("q3", 0);
    await api.report(await api.lease(), "FAILED", [fail("S", "flaky")]);
    expect((await api.json<JobSummary>("/api/v1/jobs/q3")).counts).toMatchObject({ failed: 1, quarantined: 0 });
    expect((await api.json<JobSummary>("/api/v1/jobs/q1")).counts).toMatchObject({ failed: 0, quarantined: 1 });
    expect((await api.json<JobCasesPage>("/api/v1/jobs/q1/cases?status=failed")).cases[0]!.quarantined?.id).toBe(entry.id);

    // A quarantined crash left the cases after it unrun: still retried, and the retry's pass decides.
    await api.add({ suite: "S", name: "dies", reason: "crashes at random" });
    await api.submit("q4", 1);
    await api.report(await api.lease(), "FAILED", [pass("S", "ok"), { ...fail("S", "dies"), status: "crashed" }]);
    const retry = await api.lease();
    expect([retry.job_id, retry.attempt]).toEqual(["q4", 1]);
    await api.report(retry, "SUCCEEDED", [pass("S", "ok"), pass("S", "later")]);
    expect((await api.json<JobSummary>("/api/v1/jobs/q4")).counts).toMatchObject({ succeeded: 1, failed: 0, quarantined: 0, flaky: 0, retries: 1 });

    // The job page shows it apart, in words, escaped.
    const html = await (await fetch(`${api.url}/job?job_id=q1`)).text();
    expect(html).toContain('<li class="failed-case quarantined"><span class="mono">S.flaky</span> <strong>failed, quarantined</strong>');
    expect(html).toContain('<td class="state">failed, quarantined</td>');
    expect(html).toContain(`quarantined (entry ${entry.id}): &lt;script&gt;alert(1)&lt;/script&gt; BUG-1`);
    expect(html).not.toContain("<script>alert(1)");
  });
});

test("auto-quarantine: a case flaky in at least the rate of its recent runs is quarantined by the master with a reason and an expiry; below the minimum of runs, or below the rate, nothing is", async () => {
  const config: AutoQuarantineConfig = { rate: 0.6, expiryMs: 2 * 86_400_000, windowMs: AUTO_QUARANTINE_DEFAULTS.windowMs, minRuns: 3 };
  await withServer(async (api) => {
    /** A job of one task that fails S.flaky, then passes it in its retry: flaky in that job. */
    const flakyJob = async (id: string) => {
      await api.submit(id, 1);
      await api.report(await api.lease(), "FAILED", [pass("S", "ok"), fail("S", "flaky")]);
      await api.report(await api.lease(), "SUCCEEDED", [pass("S", "ok"), pass("S", "flaky")]);
    };
    const cleanJob = async (id: string) => {
      await api.submit(id, 1);
      await api.report(await api.lease(), "SUCCEEDED", [pass("S", "ok"), pass("S", "flaky")]);
    };
    const none = async () => expect((await api.json<QuarantineList>("/api/v1/quarantine?all=1")).entries).toEqual([]);
    await flakyJob("a1");
    await cleanJob("a2");
    // 1 flaky of 2 task runs: under the minimum of 3 runs.
    await none();
    await cleanJob("a3");
    await none();
    // 2 of 4: 50%, under the rate.
    await flakyJob("a4");
    await none();
    const before = Date.now();
    await flakyJob("a5");
    // 3 of 5: 60% ≥ 60%.
    const entries = (await api.json<QuarantineList>("/api/v1/quarantine")).entries;
    expect(entries.map((e) => [e.binary, e.suite, e.name, e.created_by])).toEqual([["bin", "S", "flaky", "auto"]]);
    expect(entries[0]!.reason).toMatch(/^flake rate 60% \(3 of 5 runs flaky in the last 7 days\) ≥ 60%/);
    expect(entries[0]!.until).toBeGreaterThanOrEqual(before + config.expiryMs);
    expect(entries[0]!.until).toBeLessThanOrEqual(Date.now() + config.expiryMs);
    // Failing it again: quarantined now, so the job passes without a retry, and no second entry is made.
    await api.submit("a6", 1);
    await api.report(await api.lease(), "FAILED", [pass("S", "ok"), fail("S", "flaky")]);
    expect((await api.json<JobSummary>("/api/v1/jobs/a6")).counts).toMatchObject({ failed: 0, quarantined: 1, retries: 0, finished: 1 });
    expect((await api.json<QuarantineList>("/api/v1/quarantine?all=1")).entries.length).toBe(1);
  }, config);
});

test("auto-quarantine is off by default: a case flaky in every run gets no entry", async () => {
  await withServer(async (api) => {
    for (const id of ["o1", "o2", "o3", "o4", "o5", "o6"]) {
      await api.submit(id, 1);
      await api.report(await api.lease(), "FAILED", [fail("S", "flaky")]);
      await api.report(await api.lease(), "SUCCEEDED", [pass("S", "flaky")]);
    }
    expect((await api.json<QuarantineList>("/api/v1/quarantine?all=1")).entries).toEqual([]);
  });
});
