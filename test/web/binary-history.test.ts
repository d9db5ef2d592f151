/**
 * A binary's history over jobs: GET /api/v1/tests/binary_history and the
 * `/tests/binary_history` page, over HTTP on a master that ran the binary in
 * three jobs (sharded, with a failure, a retry and a running shard) under a
 * name full of markup: the runs newest first with their states, times and
 * attempts, the page's strip and links (jobs, logs, JSON, back to the root),
 * everything escaped, and a 400 naming what is wrong with a bad query. The
 * flaky page and a case's history link their binary here.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { BINARY_HISTORY_PAGE } from "../../src/master/http/binary-history-api.ts";
import type { BinaryHistory } from "../../src/master/protocol.ts";
import { type MasterFixture, drive, hashOf, makeMaster } from "./fixture.ts";

const SCRIPT = "<script>alert(1)</script>";
const BINARY = `bin "it's" ${SCRIPT} & <img src=x onerror=alert(2)>`;
const escape = (text: string) => text.replaceAll("&", "&amp;").replaceAll("<", "&lt;").replaceAll(">", "&gt;").replaceAll('"', "&quot;").replaceAll("'", "&#39;");
const JOBS = ["bh.alice.1700000000.1", "bh.bob.1700000000.2", "bh.carol.1700000000.3"] as const;

let fx: MasterFixture;
let server: ReturnType<typeof Bun.serve>;
let base: string;

const api = async (query: Record<string, string>) => fetch(`${base}/api/v1/tests/binary_history?${new URLSearchParams(query)}`);
const page = async (query: Record<string, string>) => fetch(`${base}/tests/binary_history?${new URLSearchParams(query)}`);

beforeAll(async () => {
  fx = await makeMaster();
  server = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: fx.app.fetch });
  base = `http://127.0.0.1:${server.port}`;
  const submit = (jobId: string, user: string, shards: number) =>
    fx.master.submitJob({ job_id: jobId, user, tasks: [{ isolate_hash: hashOf(BINARY), description: BINARY, shards, max_retries: 1 }, { isolate_hash: hashOf("other"), description: "other_test" }] });
  // 1: two shards, both pass, 10 s each one after the other.
  await submit(JOBS[0], "alice", 2);
  await drive(fx, "s1", () => "SUCCEEDED", { runMs: 10_000 });
  fx.clock.advance(60_000);
  // 2: shard 0 fails and passes on its retry (flaky), shard 1 fails twice: the run failed.
  await submit(JOBS[1], "bob", 2);
  await drive(fx, "s1", (d, attempt) => (d === "other_test" ? "SUCCEEDED" : d.endsWith(".0") ? (attempt === 0 ? "FAILED" : "SUCCEEDED") : "FAILED"), { runMs: 2_000 });
  fx.clock.advance(60_000);
  // 3: unsharded this time, and still running.
  await submit(JOBS[2], "carol", 1);
  await drive(fx, "s1", (d) => (d === "other_test" ? "SUCCEEDED" : "hold"), { runMs: 1_000 });
  fx.clock.advance(3_000);
});

afterAll(async () => {
  server?.stop(true);
  await fx?.close();
});

describe("GET /api/v1/tests/binary_history", () => {
  test("the binary's runs, newest first: state, time, attempts, each task with its attempts", async () => {
    const res = await api({ binary: BINARY });
    expect(res.status).toBe(200);
    const body = (await res.json()) as BinaryHistory;
    expect([body.binary, body.truncated]).toEqual([BINARY, false]);
    expect(body.runs.map((r) => [r.job_id, r.user, r.state, r.attempts, r.complete, r.tasks.map((t) => [t.description, t.shard_index, t.group, t.attempts.map((a) => a.state)])])).toEqual([
      [JOBS[2], "carol", "running", 1, true, [[BINARY, null, "running", ["LEASED"]]]],
      [JOBS[1], "bob", "failed", 4, true, [[`${BINARY}.0`, 0, "flaky", ["FAILED", "SUCCEEDED"]], [`${BINARY}.1`, 1, "failed", ["FAILED", "FAILED"]]]],
      [JOBS[0], "alice", "succeeded", 2, true, [[`${BINARY}.0`, 0, "succeeded", ["SUCCEEDED"]], [`${BINARY}.1`, 1, "succeeded", ["SUCCEEDED"]]]],
    ]);
    // Times: a run from its first lease to its last report; the running one up to now; each attempt lease to report.
    expect(body.runs.map((r) => r.duration_ms)).toEqual([3_000, 8_000, 20_000]);
    expect(body.runs[2]!.tasks.map((t) => t.attempts[0]!.duration_ms)).toEqual([10_000, 10_000]);
    expect(body.runs[0]!.tasks[0]!.attempts[0]).toMatchObject({ attempt: 0, slave: "s1", exit_code: null, reported_at: null });
    // The other binary of the same jobs is its own.
    const other = (await (await api({ binary: "other_test" })).json()) as BinaryHistory;
    expect(other.runs.map((r) => [r.job_id, r.state])).toEqual([[JOBS[2], "succeeded"], [JOBS[1], "succeeded"], [JOBS[0], "succeeded"]]);
  });

  test("limit counts runs; an unknown binary has none", async () => {
    const two = (await (await api({ binary: BINARY, limit: "2" })).json()) as BinaryHistory;
    expect(two.runs.map((r) => r.job_id)).toEqual([JOBS[2], JOBS[1]]);
    const none = await api({ binary: `${BINARY}.0` });
    expect([none.status, await none.json()]).toEqual([200, { binary: `${BINARY}.0`, runs: [], truncated: false }]);
  });

  test("a bad query is a 400 naming the parameter", async () => {
    const cases: [Record<string, string>, string][] = [
      [{}, "binary: is required"],
      [{ binary: "" }, "binary: is required"],
      [{ binary: "x".repeat(256) }, "binary: is 256 characters; at most 255"],
      [{ binary: BINARY, limit: "0" }, `limit: must be an integer from 1 to ${BINARY_HISTORY_PAGE.max}, got "0"`],
      [{ binary: BINARY, limit: String(BINARY_HISTORY_PAGE.max + 1) }, `limit: must be an integer from 1 to ${BINARY_HISTORY_PAGE.max}`],
      [{ binary: BINARY, limit: "1e2" }, "limit: must be an integer"],
      [{ binary: BINARY, suite: "S" }, "suite: is not a parameter of this request (known: binary, limit)"],
    ];
    for (const [query, message] of cases) {
      const res = await api(query);
      const body = (await res.json()) as { error: string; code: string };
      expect({ query, status: res.status, code: body.code, starts: body.error.startsWith(message) }).toEqual({ query, status: 400, code: "invalid_input", starts: true });
    }
  });
});

describe("the /tests/binary_history page", () => {
  test("the runs with their states in words, the strip oldest to newest, the times; every value escaped", async () => {
    const res = await page({ binary: BINARY });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-security-policy")).toContain("default-src 'none'");
    const html = await res.text();
    for (const raw of [SCRIPT, "<img", `"it's"`]) expect(html).not.toContain(raw);
    expect(html).toContain(`<h1 class="mono">${escape(BINARY)}</h1>`);
    expect(html).toContain("The latest 3 runs of this binary (one per job), newest first.");
    expect([...html.matchAll(/<span title="([^"]+?) in job ([^ ]+) [^"]*"[^>]*>([^<]+)<\/span>/g)].map((m) => `${m[2]}:${m[1]}:${m[3]}`)).toEqual([
      `${JOBS[0]}:passed:P`, `${JOBS[1]}:failed:F`, `${JOBS[2]}:running:…`,
    ]);
    expect(html).toContain("P passed · F failed · R flaky (passed on a retry) · Q failed, quarantined · C canceled · … running");
    // The running run is not among the finished runs' times.
    expect(html).toContain('<p id="durations">Times of 2 finished runs, first lease to last report: fastest 8.0 s, median 8.0 s, slowest 20.0 s.</p>');
    const rows = [...html.matchAll(/<tr class="(\w+)"><td>[^<]+<\/td><td class="mono"><a href="[^"]+">([^<]+)<\/a><\/td><td>(\w+)<\/td><td>([^<]+)<\/td><td>([^<]*)<\/td>/g)].map((m) => m.slice(1));
    expect(rows).toEqual([
      ["running", JOBS[2], "carol", "running", "3.0 s"],
      ["failed", JOBS[1], "bob", "failed", "8.0 s"],
      ["succeeded", JOBS[0], "alice", "passed", "20.0 s"],
    ]);
    // A sharded run's tasks: counted, then each with its attempts, on demand.
    expect(html).toContain(`<details data-key="run-${JOBS[1]}"><summary>2 shards: 1 flaky, 1 failed</summary>`);
    expect(html).toContain(`<span class="mono">${escape(`${BINARY}.1`)}</span>: failed, `);
  });

  test("its links lead to each run's job, each attempt's log, the JSON and back to the root's pages", async () => {
    const res = await page({ binary: BINARY, limit: "2" });
    const html = await res.text();
    const links = [...html.matchAll(/href="([^"]*)"/g)].map((m) => new URL(m[1]!.replaceAll("&amp;", "&"), res.url));
    expect(links.filter((l) => l.pathname === "/job").map((l) => l.searchParams.get("job_id"))).toEqual([JOBS[2], JOBS[1]]);
    const logs = links.filter((l) => l.pathname === "/view_log").map((l) => [l.searchParams.get("job_id"), l.searchParams.get("task_id")!.slice(-2), l.searchParams.get("attempt"), l.searchParams.get("log")]);
    expect(logs).toEqual([[JOBS[2], ".0", "0", "stdout"], [JOBS[1], ".0", "0", "stdout"], [JOBS[1], ".0", "1", "stdout"], [JOBS[1], ".1", "0", "stdout"], [JOBS[1], ".1", "1", "stdout"]]);
    for (const log of links.filter((l) => l.pathname === "/view_log" || l.pathname === "/job")) expect({ log: log.href, status: (await fetch(log)).status }).toEqual({ log: log.href, status: 200 });
    const json = links.find((l) => l.pathname === "/api/v1/tests/binary_history")!;
    expect([json.searchParams.get("binary"), json.searchParams.get("limit")]).toEqual([BINARY, "2"]);
    expect(((await (await fetch(json)).json()) as BinaryHistory).runs).toHaveLength(2);
    expect(links.filter((l) => l.pathname === "/" || l.pathname === "/flaky").map((l) => `${l.pathname}${l.search}`)).toEqual(["/", "/flaky", `/flaky?${new URLSearchParams({ binary: BINARY })}`]);
    expect(html).toContain('<link rel="icon" type="image/svg+xml" href="../favicon.svg"/>');
  });

  test("no runs says so; a bad query is a 400 page naming it, escaped", async () => {
    const none = await (await page({ binary: "never_ran" })).text();
    expect(none).toContain("No job ran this binary.");
    expect(none).not.toContain('<table id="runs">');
    const bad = await page({ binary: BINARY, limit: SCRIPT });
    expect(bad.status).toBe(400);
    const html = await bad.text();
    expect(html).toContain(`limit: must be an integer from 1 to ${BINARY_HISTORY_PAGE.max}, got ${escape(JSON.stringify(SCRIPT))}`);
    expect(html).not.toContain(SCRIPT);
    expect(html).toContain('href="../favicon.svg"');
    expect((await page({})).status).toBe(400);
  });
});
