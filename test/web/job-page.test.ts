/**
 * The job page (src/web/job/): one row per task, failed and flaky first;
 * counts in the header equal to the filters'; sort, filter and pages on the
 * server; infrastructure losses apart; the live region's polls. Against
 * the in-process master of fixture.ts, over its real HTTP app.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { outputKey } from "../../src/master/protocol.ts";
import { PAGE_ROWS } from "../../src/web/job/row-query.ts";
import {
  HOSTILE_DESCRIPTION, HOSTILE_MESSAGE, HOSTILE_SLAVE, JOBS, type MasterFixture, PUBLIC_URL, type Scenarios, buildScenarios, call, drive, makeMaster, submit, withQuery,
} from "./fixture.ts";

async function page(fx: MasterFixture, query: Record<string, string | number>, status = 200): Promise<string> {
  const res = await call(fx, withQuery("/job", query));
  expect(res.status).toBe(status);
  expect(res.headers.get("content-type")).toStartWith("text/html");
  return res.text();
}

const unescape = (s: string) => s.replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/&lt;/g, "<").replace(/&gt;/g, ">").replace(/&amp;/g, "&");

/** The task table's rows, in page order: state, name and shard count from their data attributes. */
function rows(html: string): { state: string; name: string; shards: string | null; key: string }[] {
  return [...html.matchAll(/<tr class="task [a-z]+" data-key="([^"]*)" data-state="([a-z]+)" data-name="([^"]*)"(?: data-shards="(\d+)")?>/g)].map((m) => ({
    key: unescape(m[1]!), state: m[2]!, name: unescape(m[3]!), shards: m[4] ?? null,
  }));
}

/** The header's counts, by name. */
function headerCounts(html: string): Record<string, number> {
  const header = /<p id="job-counts">([\s\S]*?)<\/p>/.exec(html)![1]!;
  return Object.fromEntries([...header.matchAll(/<span data-count="(\w+)">([\d,]+)<\/span>/g)].map((m) => [m[1]!, Number(m[2]!.replaceAll(",", ""))]));
}

/** The filters' counts, by filter. */
function filterCounts(html: string): Record<string, number> {
  const nav = /<nav id="filters"[^>]*>([\s\S]*?)<\/nav>/.exec(html)![1]!;
  return Object.fromEntries([...nav.matchAll(/data-filter="(\w+)" data-count="(\d+)"/g)].map((m) => [m[1]!, Number(m[2])]));
}

/** Every filter shown says the number the header says for it; `all` is the header's total. */
function expectCountsAgree(html: string): void {
  const header = headerCounts(html);
  const filters = filterCounts(html);
  expect(Object.keys(filters).length).toBeGreaterThan(5);
  for (const [name, n] of Object.entries(filters)) expect([name, n]).toEqual([name, name === "all" ? header.total! : header[name]!]);
}

/** A master of the test's own: its slaves take only its tasks. */
async function ownMaster(): Promise<MasterFixture & AsyncDisposable> {
  const own = await makeMaster();
  return Object.assign(own, { [Symbol.asyncDispose]: () => own.close() });
}

describe("the job page over jobs in every state", () => {
  let fx: MasterFixture;
  let s: Scenarios;
  beforeAll(async () => {
    fx = await makeMaster();
    s = await buildScenarios(fx);
  });
  afterAll(() => fx.close());

  test("one row per task, failed first, then flaky, then the rest by name; attempts nested with state, slave, time, logs and artifacts", async () => {
    const html = await page(fx, { job_id: JOBS.mixed });
    expect(rows(html).map((r) => [r.state, r.name])).toEqual([["failed", "fail"], ["failed", "slow"], ["flaky", "flaky"], ["passed", HOSTILE_DESCRIPTION], ["passed", "pass"]]);
    expect(headerCounts(html)).toMatchObject({ total: 5, failed: 2, flaky: 1, running: 0, queued: 0, passed: 2, lost: 0 });
    expectCountsAgree(html);
    // The progress bar's parts, in the order a job fills it, sized by rows; the label says the same in words.
    expect([...html.matchAll(/<div class="(\w+)" style="width: ([\d.]+)%"><\/div>/g)].map((m) => [m[1], m[2]])).toEqual([["passed", "40.00"], ["flaky", "20.00"], ["failed", "40.00"]]);
    expect(html).toContain('aria-label="2 passed, 1 flaky, 2 failed, 0 running, 0 queued of 5"');
    expect(html).toContain(`<h1>Job <span class="mono">${JOBS.mixed}</span></h1>`);
    expect(html).toContain(`<strong class="job-state failed">failed</strong>`);
    // The flaky task's two attempts, in its row's details, oldest first.
    const flaky = html.slice(html.indexOf('data-name="flaky"'), html.indexOf('data-name="' + Bun.escapeHTML(HOSTILE_DESCRIPTION)));
    expect([...flaky.matchAll(/<tr class="attempt (\w+)" data-state="(\w+)">/g)].map((m) => m[2])).toEqual(["FAILED", "SUCCEEDED"]);
    expect(flaky).toContain(`<td>${Bun.escapeHTML(HOSTILE_SLAVE)}</td>`);
    const pass = s.taskIds.mixed[0]!;
    const viewLink = withQuery("view_log", { job_id: JOBS.mixed, task_id: pass, attempt: 0, log: "stdout" }).replaceAll("&", "&amp;");
    expect(html).toContain(`<a href="${viewLink}">stdout</a> (<a href="${PUBLIC_URL}/api/v1/artifacts/${outputKey(JOBS.mixed, pass, 0, "stdout")}">raw</a>)`);
    expect(html).toContain(`<a href="${PUBLIC_URL}/api/v1/artifacts/${outputKey(JOBS.mixed, pass, 0, "artifacts")}">artifacts</a>`);
    expect(html).toContain("TIMED_OUT");
    expect(html).toContain("FAILED (exit 1)");
    expect(html).toContain(Bun.escapeHTML(HOSTILE_MESSAGE));
    // Each task's name links its binary's history over all jobs, which answers.
    expect(html).toContain(`<span class="task-name">fail</span> <a class="binary-history" href="tests/binary_history?binary=fail"`);
    expect((await call(fx, "/tests/binary_history?binary=fail")).status).toBe(200);
    // The digest on demand, with the command that runs it.
    expect(html).toContain(`dt run-isolated --hash ${pass.slice(0, pass.lastIndexOf("."))} --leak-temp-dir`);
    // A finished job's page is still: no live region, no script.
    expect(html).not.toContain("data-live-src");
    expect(html).not.toContain("<script");
  });

  test("filters pick tasks, old dist_test words included; nothing matched says dist_test's words; a bad filter is a 400 naming it", async () => {
    const names = async (status: string) => rows(await page(fx, { job_id: JOBS.mixed, status })).map((r) => r.name);
    expect(await names("failed")).toEqual(["fail", "slow"]);
    expect(await names("flaky")).toEqual(["flaky"]);
    expect(await names("passed")).toEqual([HOSTILE_DESCRIPTION, "pass"]);
    expect(await names("succeeded")).toEqual(["flaky", HOSTILE_DESCRIPTION, "pass"]);
    expect(await names("timedout")).toEqual(["slow"]);
    expect(await names("finished")).toHaveLength(5);
    const none = await page(fx, { job_id: JOBS.mixed, status: "running" });
    expect(rows(none)).toEqual([]);
    expect(none).toContain(`<p id="empty">No tasks found for specified job_id ${JOBS.mixed}</p>`);
    expect(none).toContain(`<strong data-filter="running" data-count="0">running (0)</strong>`);
    expectCountsAgree(none);
    const bad = await page(fx, { job_id: JOBS.mixed, status: "<b>" }, 400);
    expect(bad).toContain("Unknown status &quot;&lt;b&gt;&quot;");
    expect(bad).not.toContain("<b>");
    const badFormat = await page(fx, { job_id: JOBS.mixed, format: "<json>" }, 400);
    expect(badFormat).toContain("format must be html or fragment, got &quot;&lt;json&gt;&quot;");
    for (const [name, value] of [["sort", "size"], ["order", "up"], ["page", "0"], ["page", "-1"], ["page", "1e3"], ["page", "x".repeat(5000)]]) {
      expect(await page(fx, { job_id: JOBS.mixed, [name!]: value! }, 400)).toContain(name === "page" ? "page must be a whole number" : `Unknown ${name}`);
    }
  });

  test("sorts by name, state and duration, either way, on the server; the headers link the other order", async () => {
    await using own = await ownMaster();
    const jobId = "sort.1700000000.1";
    const runs: [string, number][] = [["b-mid", 2_000], ["a-long", 9_000], ["c-short", 500], ["d-broken", 1_000]];
    await submit(own, jobId, runs.map(([description]) => ({ description })));
    // A slave takes the queue's first task: in the order submitted.
    for (const [name, ms] of runs) expect((await drive(own, `s-${name}`, (d) => (d === "d-broken" ? "FAILED" : "SUCCEEDED"), { runMs: ms, maxLeases: 1 }))[0]!.description).toBe(name);
    const order = async (query: Record<string, string>) => rows(await page(own, { job_id: jobId, ...query })).map((r) => r.name);
    expect(await order({})).toEqual(["d-broken", "a-long", "b-mid", "c-short"]);
    expect(await order({ sort: "name" })).toEqual(["a-long", "b-mid", "c-short", "d-broken"]);
    expect(await order({ sort: "name", order: "desc" })).toEqual(["d-broken", "c-short", "b-mid", "a-long"]);
    expect(await order({ sort: "duration" })).toEqual(["a-long", "b-mid", "d-broken", "c-short"]);
    expect(await order({ sort: "duration", order: "asc" })).toEqual(["c-short", "d-broken", "b-mid", "a-long"]);
    // Ties stay by name, A to Z, whichever way the states go.
    expect(await order({ sort: "state", order: "desc" })).toEqual(["a-long", "b-mid", "c-short", "d-broken"]);
    const html = await page(own, { job_id: jobId, sort: "duration" });
    expect(html).toContain(`<th aria-sort="descending"><a href="job?job_id=${jobId}&amp;sort=duration&amp;order=asc" data-sort="duration"`);
    expect(html).toContain(`<a href="job?job_id=${jobId}&amp;sort=name" data-sort="name"`);
    expect(html).toContain(`<a href="job?job_id=${jobId}" data-sort="state"`);
  });

  test("a canceled job's unfinished tasks read canceled, counted apart with their own filter", async () => {
    const html = await page(fx, { job_id: JOBS.canceled });
    expect(rows(html).map((r) => r.state)).toEqual(["canceled", "canceled", "canceled"]);
    expect(headerCounts(html)).toMatchObject({ total: 3, canceled: 3, failed: 0 });
    expectCountsAgree(html);
    expect(html).toContain(`<strong class="job-state quarantined">canceled</strong>`);
  });

  test("a running job's page is a live region; its poll answers 304 until the job changes, then the new rows, and says when it is done", async () => {
    await using own = await ownMaster();
    const jobId = "retry.1700000000.1";
    await submit(own, jobId, [{ description: "again", max_retries: 1 }]);
    await drive(own, "s-first", () => "FAILED", { maxLeases: 1 });
    const html = await page(own, { job_id: jobId });
    expect(rows(html).map((r) => r.state)).toEqual(["retrying"]);
    const src = /data-live-src="([^"]+)"/.exec(html)![1]!.replaceAll("&amp;", "&");
    const etag = unescape(/data-live-etag="([^"]+)"/.exec(html)![1]!);
    expect(src).toBe(`job?job_id=${jobId}&format=fragment`);
    expect(html).toContain("<script>");
    const poll = (tag: string) => call(own, `/${src}`, { headers: { "If-None-Match": tag } });
    const same = await poll(etag);
    expect(same.status).toBe(304);
    expect(await same.text()).toBe("");
    // The retry runs and passes: the next poll has the row's new state, a new ETag, and says the job will change no more.
    await drive(own, "s-retry", () => "SUCCEEDED", { maxLeases: 1 });
    const changed = await poll(etag);
    expect(changed.status).toBe(200);
    expect(changed.headers.get("ETag")).not.toBe(etag);
    expect(changed.headers.get("X-Live-Done")).toBe("true");
    const fragment = await changed.text();
    expect(fragment).not.toContain("<html");
    expect(rows(fragment).map((r) => r.state)).toEqual(["flaky"]);
    expectCountsAgree(fragment);
    expect((await poll(changed.headers.get("ETag")!)).status).toBe(304);
  });

  test("a sharded binary is one row with its shards inside; an infrastructure loss is counted and styled apart from failures", async () => {
    await using own = await ownMaster();
    const jobId = "shards.1700000000.1";
    await own.master.submitJob({ job_id: jobId, tasks: [{ isolate_hash: "e".repeat(64), description: "gtest_binary", shards: 3 }, { isolate_hash: "f".repeat(64), description: "unlucky" }] });
    let lostOnce = false;
    await drive(own, "s-shards", (d) => {
      if (d === "unlucky" && !lostOnce) {
        lostOnce = true;
        return "INFRA_FAILED";
      }
      return d.endsWith(".1") ? "FAILED" : "SUCCEEDED";
    });
    const html = await page(own, { job_id: jobId });
    expect(rows(html).map((r) => [r.state, r.name, r.shards])).toEqual([["failed", "gtest_binary", "3"], ["passed", "unlucky", null]]);
    expect(html).toContain("(4 with shards)");
    expect(headerCounts(html)).toMatchObject({ total: 2, failed: 1, passed: 1, lost: 1 });
    expectCountsAgree(html);
    expect((html.match(/<div class="shard" data-task=/g) ?? []).length).toBe(4);
    expect(html).toContain("shard 2 of 3: failed");
    expect(html).toContain(`<tr class="attempt lost" data-state="INFRA_FAILED">`);
    expect(html).toContain("lost to the infrastructure: not a test failure");
    expect(html).toContain(`<span class="lost-count"> (1 lost)</span>`);
    expect(rows(await page(own, { job_id: jobId, status: "lost" })).map((r) => r.name)).toEqual(["unlucky"]);
  });

  test("a sharded binary with a failed shard while another still runs is failed but not finished: the page stays live and says running", async () => {
    await using own = await ownMaster();
    const jobId = "halfway.1700000000.1";
    await own.master.submitJob({ job_id: jobId, tasks: [{ isolate_hash: "c".repeat(64), description: "split_test", shards: 2 }] });
    // Shard 0 fails; shard 1 is leased and held: running.
    await drive(own, "s-half", (d) => (d === "split_test.0" ? "FAILED" : "hold"));
    const html = await page(own, { job_id: jobId });
    expect(rows(html).map((r) => [r.state, r.shards])).toEqual([["failed", "2"]]);
    expect(html).toContain(`<strong class="job-state failed">running, failing</strong>`);
    expect(html).toContain("running for");
    expect(html).toContain("data-live-src");
    expectCountsAgree(html);
    const fragment = await call(own, withQuery("/job", { job_id: jobId, format: "fragment" }));
    expect(fragment.headers.get("X-Live-Done")).toBe("false");
    // dist_test's finished filter picks rows whose every shard ended.
    expect(rows(await page(own, { job_id: jobId, status: "finished" }))).toEqual([]);
  });

  test("a binary split fifty ways is one row showing twenty shards, the failed one among them, and how many more there are", async () => {
    await using own = await ownMaster();
    const jobId = "wide.1700000000.1";
    await own.master.submitJob({ job_id: jobId, tasks: [{ isolate_hash: "a".repeat(64), description: "wide_test", shards: 50 }] });
    await drive(own, "s-wide", (d) => (d === "wide_test.37" ? "FAILED" : "SUCCEEDED"));
    const html = await page(own, { job_id: jobId });
    expect(rows(html).map((r) => [r.state, r.shards])).toEqual([["failed", "50"]]);
    const shards = [...html.matchAll(/<h3>shard (\d+) of 50: (\w+)<\/h3>/g)].map((m) => [Number(m[1]), m[2]]);
    expect(shards).toHaveLength(20);
    expect(shards).toContainEqual([38, "failed"]);
    expect(html).toContain("30 more shards, not shown");
    expect(headerCounts(html)).toMatchObject({ total: 1, failed: 1 });
  });

  test("a big job's page shows one page of rows, with links to the others; a page past the last says so", async () => {
    const jobId = "big.1700000000.1";
    const n = PAGE_ROWS * 2 + 50;
    await submit(fx, jobId, Array.from({ length: n }, (_, i) => ({ description: `t${String(i).padStart(4, "0")}` })));
    const first = await page(fx, { job_id: jobId, sort: "name" });
    expect(rows(first).map((r) => r.name)).toEqual(Array.from({ length: PAGE_ROWS }, (_, i) => `t${String(i).padStart(4, "0")}`));
    expect(first).toContain(`Tasks 1–100 of 250; page 1 of 3:`);
    expect(first).toContain(`<a href="job?job_id=${jobId}&amp;sort=name&amp;page=2" rel="next">next</a>`);
    expect(headerCounts(first)).toMatchObject({ total: n, queued: n });
    const last = await page(fx, { job_id: jobId, sort: "name", page: 3 });
    expect(rows(last)).toHaveLength(50);
    expect(last).toContain(`rel="prev">previous</a>`);
    expect(last).not.toContain(`rel="next"`);
    const past = await page(fx, { job_id: jobId, page: 9 });
    expect(rows(past)).toEqual([]);
    expect(past).toContain("Page 9 is past the last, 3:");
  });

  test("an unknown job, hostile id included, gets dist_test's message, escaped", async () => {
    expect(await page(fx, { job_id: "nobody.1.2" }, 404)).toContain("No tasks found for specified job_id nobody.1.2");
    const html = await page(fx, { job_id: `x"'><script>alert(1)</script>` }, 404);
    expect(html).toContain(`No tasks found for specified job_id x&quot;&#39;&gt;&lt;script&gt;alert(1)&lt;/script&gt;`);
    expect(html).not.toContain("<script>alert");
  });
});
