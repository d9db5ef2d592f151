/**
 * The index page's live region (index-route.tsx): the page polls
 * `/?format=fragment` with the filter it shows; the master answers 304 from
 * memory while nothing shown changed, and the region's new HTML, under a new
 * ETag, after a submit, a report, a slave coming or going, an autoscaler's
 * decision, or once a running job's duration or the day's window moved on.
 */
import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { RECENT_JOBS_MS, RUNNING_REFRESH_MS } from "../../src/web/index-route.tsx";
import { LIVE_SCRIPT } from "../../src/web/live-script.ts";
import { HOSTILE_DESCRIPTION, type MasterFixture, call, drive, makeMaster, submit, withQuery } from "./fixture.ts";

/** The markup a hostile filter could inject; none of it may reach a page raw. */
const HOSTILE_FILTER = `"><script>alert(1)</script><img src=x onerror=alert(2)>`;

interface Poll {
  status: number;
  etag: string | null;
  done: string | null;
  body: string;
}

async function poll(fx: MasterFixture, etag: string | null, query: Record<string, string> = {}): Promise<Poll> {
  const res = await call(fx, withQuery("/", { ...query, format: "fragment" }), { headers: etag ? { "If-None-Match": etag } : {} });
  return { status: res.status, etag: res.headers.get("etag"), done: res.headers.get("x-live-done"), body: await res.text() };
}

/** The job ids a fragment or page lists, in order. */
const listed = (html: string) => [...html.matchAll(/<a href="job\?job_id=([^"]+)">/g)].map((m) => m[1]);

describe("index live region", () => {
  let fx: MasterFixture;
  /** Calls of Master.listJobs: the one database read of a render. */
  let reads = 0;
  beforeEach(async () => {
    fx = await makeMaster();
    const listJobs = fx.master.listJobs.bind(fx.master);
    reads = 0;
    fx.master.listJobs = (...args) => {
      reads++;
      return listJobs(...args);
    };
  });
  afterEach(() => fx.close());

  test("the page holds a live region that polls its own fragment, with the headline, the jobs and their counts inside and the filter form outside", async () => {
    await submit(fx, "first.alice.1700000000.1", [{ description: "a" }]);
    const res = await call(fx, "/");
    expect(res.status).toBe(200);
    const html = await res.text();
    expect(res.headers.get("content-security-policy")).toContain("script-src 'sha256-");
    expect(html).toContain(`<script>${LIVE_SCRIPT}</script>`);
    expect(html.split("<script").length - 1).toBe(1);
    const region = /<div id="index-live" data-live-src="([^"]+)" data-live-etag="([^"]+)" data-live-ms="2000">/.exec(html);
    expect(region?.[1]).toBe("./?format=fragment");
    // The form is outside the region (a poll must not drop what the reader types); the headline, the heading counts and the table are inside.
    const inside = html.slice(html.indexOf('<div id="index-live"'));
    expect(html.indexOf('<form method="get" action="./" id="job-filter"')).toBeLessThan(html.indexOf('<div id="index-live"'));
    for (const part of ['<code id="stats">Queue length: 1 Running: 0 Idle slaves: 0</code>', '<p id="job-counts">1 job: 1 running</p>', '<table id="jobs">', "<th>Job (1)</th>"]) expect(inside).toContain(part);
    expect(html).toContain('<a href="flaky">flaky tests</a> <a href="slaves">slaves</a> <a href="metrics">metrics</a>');

    // The fragment is the region's content alone, as the page had it.
    const first = await poll(fx, null);
    expect([first.status, first.done, first.etag]).toEqual([200, "false", region![2]!.replaceAll("&quot;", '"')]);
    expect(first.body).not.toContain("<html");
    expect(first.body).not.toContain("<form");
    expect(first.body).not.toContain("<script");
    expect(html).toContain(first.body);
    // gce-autoscale.py's regex still reads the headline, one line of text.
    expect(/Queue length: (\d+).*Running: (\d+)/.exec(first.body)?.slice(1)).toEqual(["1", "0"]);
  });

  test("304 without a database read while nothing changed; 200 with a new ETag after a submit, and after a report", async () => {
    const first = await poll(fx, null);
    expect(first.status).toBe(200);
    expect(listed(first.body)).toEqual([]);
    expect(reads).toBe(1);
    for (let i = 0; i < 3; i++) {
      const again = await poll(fx, first.etag);
      expect([again.status, again.etag, again.body]).toEqual([304, first.etag, ""]);
    }
    expect(reads).toBe(1);

    // The slave calls in first, so that the report below leaves the queue's numbers as they were.
    await fx.master.dispatcher.lease({ slave: { name: "s1", dimensions: {}, slots: 1, version: "t" }, free: 1, wait_ms: 0 });
    await submit(fx, "late.bob.1700000000.2", [{ description: "late", max_retries: 1 }]);
    const submitted = await poll(fx, first.etag);
    expect(submitted.status).toBe(200);
    expect(submitted.etag).not.toBe(first.etag);
    expect(listed(submitted.body)).toEqual(["late.bob.1700000000.2"]);
    expect(submitted.body).toContain("Queue length: 1 Running: 0 Idle slaves: 1");

    // A failure and its retry queued: only the job's rows changed, not the queue's numbers, and the region follows.
    await drive(fx, "s1", () => "FAILED", { runMs: 1_000, maxLeases: 1 });
    const reported = await poll(fx, submitted.etag);
    expect(reported.status).toBe(200);
    expect(reported.body).toContain("Queue length: 1 Running: 0 Idle slaves: 1");
    expect(reported.etag).not.toBe(submitted.etag);
    // Within RUNNING_REFRESH_MS of the last render: the write, not the clock, made it new.
    expect(reported.body).toContain("<td>1.0 s</td><td>0 of 1 finished</td>");
    expect((await poll(fx, reported.etag)).status).toBe(304);

    // A cancel with the retry leased: the slave still runs it (the queue's numbers stay), the job reads canceled.
    await drive(fx, "s1", () => "hold", { maxLeases: 1 });
    const leased = await poll(fx, reported.etag);
    expect(leased.body).toContain("Queue length: 0 Running: 1 Idle slaves: 0");
    await fx.master.cancelJob("late.bob.1700000000.2");
    const canceled = await poll(fx, leased.etag);
    expect([canceled.status, canceled.body.includes("Queue length: 0 Running: 1 Idle slaves: 0")]).toEqual([200, true]);
    expect(canceled.body).toContain('<p id="job-counts">1 job: 1 canceled</p>');
    expect((await poll(fx, canceled.etag)).status).toBe(304);
  });

  test("a running job's duration is rendered again once RUNNING_REFRESH_MS passed, without any write", async () => {
    await submit(fx, "slow.carol.1700000000.3", [{ description: "slow" }]);
    const first = await poll(fx, null);
    fx.clock.advance(RUNNING_REFRESH_MS - 1);
    expect((await poll(fx, first.etag)).status).toBe(304);
    fx.clock.advance(1);
    const later = await poll(fx, first.etag);
    expect(later.status).toBe(200);
    expect(later.etag).not.toBe(first.etag);
    expect(later.body).toContain(`<td>${(RUNNING_REFRESH_MS / 1000).toFixed(1)} s</td>`);
  });

  test("a finished job's region holds until the job leaves the day's window", async () => {
    await submit(fx, "done.dave.1700000000.4", [{ description: "ok" }]);
    await drive(fx, "s1", () => "SUCCEEDED");
    const first = await poll(fx, null);
    expect(listed(first.body)).toEqual(["done.dave.1700000000.4"]);
    // The slave stays idle and live by calling in, as a real one does: no job is written.
    const callIn = () => fx.master.dispatcher.lease({ slave: { name: "s1", dimensions: {}, slots: 1, version: "t" }, free: 1, wait_ms: 0 });
    fx.clock.advance(RECENT_JOBS_MS / 2);
    await callIn();
    const half = await poll(fx, null);
    expect((await poll(fx, half.etag)).status).toBe(304);
    // Created 5 s before the first poll (drive's run): gone a day after its creation.
    fx.clock.advance(RECENT_JOBS_MS / 2 - 5_000 + 1);
    await callIn();
    const gone = await poll(fx, half.etag);
    expect(gone.status).toBe(200);
    expect(listed(gone.body)).toEqual([]);
  });

  test("the queue's numbers and the autoscalers' decisions change the ETag without a job write", async () => {
    const first = await poll(fx, null);
    expect(first.body).toContain("Idle slaves: 0");
    // A slave that calls in with nothing to lease is idle: no job was written.
    await fx.master.dispatcher.lease({ slave: { name: "idle-1", dimensions: {}, slots: 1, version: "t" }, free: 1, wait_ms: 0 });
    const idle = await poll(fx, first.etag);
    expect([idle.status, idle.body.includes("Idle slaves: 1")]).toEqual([200, true]);
    fx.master.decisions.add({ at: 1_700_000_000_000, autoscaler: "a", action: "grow", from: 1, to: 2, reason: "queue" });
    const decided = await poll(fx, idle.etag);
    expect(decided.status).toBe(200);
    expect(decided.body).toContain("<h1>Autoscaler</h1>");
    expect((await poll(fx, decided.etag)).status).toBe(304);
  });

  test("the filter is kept in the region's URL and its polls; each filter has its own ETag", async () => {
    await fx.master.submitJob({ job_id: "nightly.alice.1700000000.5", user: "alice", name: "nightly", tasks: [{ isolate_hash: "a".repeat(64), description: "a" }] });
    await fx.master.submitJob({ job_id: "bob.1700000000.6", user: "bob", tasks: [{ isolate_hash: "b".repeat(64), description: "b" }] });
    const html = await (await call(fx, withQuery("/", { user: "alice", name: "nightly" }))).text();
    expect(html).toContain('data-live-src="./?user=alice&amp;name=nightly&amp;format=fragment"');
    const alice = await poll(fx, null, { user: "alice", name: "nightly" });
    expect(listed(alice.body)).toEqual(["nightly.alice.1700000000.5"]);
    expect(alice.body).toContain("<h1>Recent jobs (last 1 day; user alice, name nightly)</h1>");
    const all = await poll(fx, null);
    expect(listed(all.body).sort()).toEqual(["bob.1700000000.6", "nightly.alice.1700000000.5"]);
    expect(all.etag).not.toBe(alice.etag);
    // Another filter's tag is not this one's: answered in full.
    expect((await poll(fx, alice.etag)).status).toBe(200);
    expect((await poll(fx, alice.etag, { user: "alice", name: "nightly" })).status).toBe(304);
  });

  test("hostile filters, formats and If-None-Match values come back escaped or are refused", async () => {
    await submit(fx, "h.1700000000.7", [{ description: HOSTILE_DESCRIPTION }]);
    const page = await (await call(fx, withQuery("/", { user: HOSTILE_FILTER, name: HOSTILE_FILTER }))).text();
    const fragment = await poll(fx, null, { user: HOSTILE_FILTER, name: HOSTILE_FILTER });
    expect(fragment.status).toBe(200);
    for (const html of [page, fragment.body]) {
      expect(html).not.toContain("<script>alert");
      expect(html).not.toContain("<img");
      expect(html).toContain(`user ${Bun.escapeHTML(HOSTILE_FILTER)}, name ${Bun.escapeHTML(HOSTILE_FILTER)}`);
    }
    // In the region's URL, the filter is percent-encoded inside an escaped attribute.
    const src = /data-live-src="([^"]*)"/.exec(page)![1]!;
    expect(new URLSearchParams(src.replaceAll("&amp;", "&").slice(2)).get("user")).toBe(HOSTILE_FILTER);
    // The ETag is a hash of the filter, never the filter itself: a header cannot be broken by it.
    expect(fragment.etag).toMatch(/^"[0-9a-z]+-[0-9a-z-]+"$/);

    const bad = await call(fx, withQuery("/", { format: `<b>${"x".repeat(100)}` }));
    expect(bad.status).toBe(400);
    const badText = await bad.text();
    expect(badText).toContain("format must be html or fragment, got &quot;&lt;b&gt;xxx");
    expect(badText).not.toContain("<b>");

    // Tags the master never gave: answered in full, never 304.
    const good = (await poll(fx, null)).etag!;
    const stateTag = good.slice(1, good.indexOf("-"));
    for (const forged of ["", "*", good.slice(1, -1), `W/${good}`, `"${stateTag}-"`, `"${stateTag}-zzzzzzzzzzzzz"`, `"${stateTag}-1-2"`, `"${stateTag}"`, `"${"x".repeat(10_000)}"`, `"${stateTag}-0"`]) {
      expect({ forged: forged.slice(0, 40), status: (await poll(fx, forged)).status }).toEqual({ forged: forged.slice(0, 40), status: 200 });
    }
  });
});
