import { afterAll, afterEach, beforeAll, describe, expect, test } from "bun:test";
import { outputKey } from "../../src/master/protocol.ts";
import { wholeUtf8Length } from "../../src/web/log-pages.tsx";
import { waitUntil } from "../helpers/wait.ts";
import {
  HOSTILE_DESCRIPTION, HOSTILE_MESSAGE, HOSTILE_SLAVE, JOBS, LIVE_LOG, type MasterFixture, PUBLIC_URL, type Scenarios, buildScenarios, call, drive, logText, makeMaster, preText, submit, withQuery,
} from "./fixture.ts";

async function page(fx: MasterFixture, path: string, status = 200): Promise<string> {
  const res = await call(fx, path);
  expect(res.status).toBe(status);
  expect(res.headers.get("content-type")).toStartWith("text/html");
  return res.text();
}

const count = (html: string, needle: string) => html.split(needle).length - 1;

/** The markup a hostile value could inject, none of which may reach a page raw. */
function expectNoInjection(html: string): void {
  expect(html).not.toContain("<script>alert");
  expect(html).not.toContain("<img");
  expect(html).not.toContain(HOSTILE_SLAVE);
  expect(html).not.toContain(`x"'>`);
}

describe("pages over jobs in every state", () => {
  let fx: MasterFixture;
  let s: Scenarios;
  beforeAll(async () => {
    fx = await makeMaster();
    s = await buildScenarios(fx);
  });
  afterAll(() => fx.close());

  test("index: dist_test's headline on one line, as gce-autoscale.py's regex reads it, and the day's jobs", async () => {
    const html = await page(fx, "/");
    const stats = fx.master.queueStats();
    expect({ queued: stats.queued, running: stats.running }).toEqual({ queued: 1, running: 2 });
    // Python's re without DOTALL, like JavaScript's: `.` stops at a newline.
    const match = /Queue length: (\d+).*Running: (\d+)/.exec(html);
    expect(match?.slice(1)).toEqual(["1", "2"]);
    expect(html).toContain(`Queue length: 1 Running: 2 Idle slaves: ${stats.idleSlaves}`);
    for (const jobId of Object.values(JOBS)) expect(html).toContain(`<a href="job?job_id=${jobId}">${jobId}</a>`);
  });

  test("job: an unknown job, hostile id included, gets dist_test's message, escaped", async () => {
    expect(await page(fx, withQuery("/job", { job_id: "nobody.1.2" }), 404)).toContain("No tasks found for specified job_id nobody.1.2");
    const hostile = `x"'><script>alert(1)</script>`;
    const html = await page(fx, withQuery("/job", { job_id: hostile }), 404);
    expect(html).toContain(`No tasks found for specified job_id x&quot;&#39;&gt;&lt;script&gt;alert(1)&lt;/script&gt;`);
    expectNoInjection(html);
  });

  test("every value is escaped: descriptions, slave names, messages, logs", async () => {
    const pages = [
      await page(fx, "/"),
      await page(fx, withQuery("/job", { job_id: JOBS.mixed })),
      await page(fx, withQuery("/trace", { job_id: JOBS.mixed })),
      await page(fx, withQuery("/view_log", { job_id: JOBS.mixed, task_id: s.taskIds.mixed[4]!, attempt: 0, log: "stdout" })),
      await page(fx, withQuery("/log", { job_id: JOBS.live, task_id: s.taskIds.live[0]!, attempt: 0, log: "stdout" })),
      await page(fx, withQuery("/trace", { job_id: `"><script>alert(1)</script>` }), 404),
    ];
    for (const html of pages) expectNoInjection(html);
    const job = pages[1]!;
    expect(job).toContain(`<span class="task-name">${Bun.escapeHTML(HOSTILE_DESCRIPTION)}</span>`);
    expect(job).toContain(Bun.escapeHTML(HOSTILE_MESSAGE));
    expect(pages[2]).toContain(Bun.escapeHTML(HOSTILE_SLAVE));
    expect(preText(pages[3]!)).toBe(logText({ description: HOSTILE_DESCRIPTION, attempt: 0 }, "stdout"));
    // No page runs a script but dt's own: the index's live region, the live log's, a running job's page's live region (not a finished one's).
    expect(pages.map((html) => count(html, "<script"))).toEqual([1, 0, 0, 0, 1, 0]);
    expect(count(await page(fx, withQuery("/job", { job_id: JOBS.live })), "<script")).toBe(1);
  });

  test("trace JSON: dist_test's Catapult events, µs since the job's first queued attempt", async () => {
    const res = await call(fx, withQuery("/trace", { job_id: JOBS.trace, format: "json" }));
    expect(res.headers.get("content-type")).toStartWith("application/json");
    const [first, second] = s.traceLeases;
    expect(await res.json()).toEqual({
      traceEvents: [
        { cat: "run", pid: "s-a", ph: "X", name: first!.description, ts: 2_000_000, dur: 5_000_000 },
        { cat: "run", pid: "s-b", ph: "X", name: second!.description, ts: 7_000_000, dur: 3_000_000 },
      ],
    });
    // Only completed attempts: none of the canceled job's ran to a report.
    expect(await (await call(fx, withQuery("/trace", { job_id: JOBS.canceled, format: "json" }))).json()).toEqual({ traceEvents: [] });
  });

  test("trace page: an inline SVG timeline, one row per slave, and the JSON for Perfetto", async () => {
    const html = await page(fx, withQuery("/trace", { job_id: JOBS.trace }));
    const timeline = (text: string) => /<svg id="timeline"[\s\S]*?<\/svg>/.exec(text)?.[0] ?? "";
    expect(count(html, '<svg id="timeline"')).toBe(1);
    expect(count(timeline(html), "<rect")).toBe(2);
    // A legend in words, and each bar a link to its attempt's log.
    for (const words of ["passed", "failed or timed out", "lost, infrastructure failure or canceled (not the test&#39;s)", "running"]) expect(html).toContain(words);
    expect(count(timeline(html), `<a href="log?job_id=${JOBS.trace}&amp;task_id=`)).toBe(2);
    expect(html).toContain("<title>s-a</title>");
    expect(html).toContain("<title>s-b</title>");
    expect(html).toMatch(/<title>alpha — 5\.0 s \(SUCCEEDED; task [0-9a-f]{64}\.0, attempt 0\)<\/title>/);
    expect(html).toContain(`<a href="trace?job_id=${JOBS.trace}&amp;format=json">Trace JSON</a>`);
    expect(html).toContain("does not ship");
    expect(html).not.toMatch(/(src|href)="(https?:)?\/\//);
    const mixed = await page(fx, withQuery("/trace", { job_id: JOBS.mixed }));
    expect(count(timeline(mixed), "<rect")).toBe(6);
    // A running attempt is drawn, up to now, and says so.
    const live = await page(fx, withQuery("/trace", { job_id: JOBS.live }));
    expect(count(timeline(live), "<rect")).toBe(1);
    expect(live).toMatch(/<title>tail me — [^<]+ so far \(running: LEASED; task/);
    expect(live).toContain("0 completed attempts and 1 running");
    // Zoom: a window of the job, with links out of it; a bad bound is a 400 naming it.
    const zoomed = await page(fx, withQuery("/trace", { job_id: JOBS.trace, from: "0", to: "1" }));
    expect(zoomed).toContain("Showing 0 ms to 1.0 s of");
    expect(zoomed).toContain(">zoom out</a>");
    expect(zoomed).toContain(">whole job</a>");
    expect(html).not.toContain(">zoom out</a>");
    const bad = await call(fx, withQuery("/trace", { job_id: JOBS.trace, from: "-1" }));
    expect([bad.status, (await bad.text()).includes("from must be a number of seconds")]).toEqual([400, true]);
    // A canceled job's attempt still on its slave (killed at its next heartbeat) runs until it reports.
    expect(await page(fx, withQuery("/trace", { job_id: JOBS.canceled }))).toContain("0 completed attempts and 1 running");
    const empty = await makeMaster();
    try {
      await submit(empty, "queued.1700000000.9", [{ description: "q" }]);
      expect(await page(empty, withQuery("/trace", { job_id: "queued.1700000000.9" }))).toContain("No attempt has run yet.");
    } finally {
      await empty.close();
    }
    expect(await page(fx, withQuery("/trace", { job_id: "nobody.1.2" }), 404)).toContain("No tasks found for specified job_id nobody.1.2");
  });

  test("live log page: the log so far, escaped, and where the script takes over", async () => {
    const html = await page(fx, withQuery("/log", { job_id: JOBS.live, task_id: s.taskIds.live[0]!, attempt: 0, log: "stdout" }));
    expect(preText(html)).toBe(LIVE_LOG);
    expect(html).toContain(`data-src="${withQuery("log", { job_id: JOBS.live, task_id: s.taskIds.live[0]!, attempt: 0, log: "stdout", format: "lines" }).replaceAll("&", "&amp;")}"`);
    expect(html).toContain(`data-end="${new TextEncoder().encode(LIVE_LOG).byteLength}"`);
    expect(html).toContain(`data-next-line="3"`);
    expect(html).toContain(`data-follow="true"`);
    expect(html).not.toContain("innerHTML");
    const missing = await call(fx, withQuery("/log", { job_id: JOBS.live, task_id: s.taskIds.live[0]!, attempt: 3, log: "stdout" }));
    expect([missing.status, await missing.text()]).toEqual([404, "Could not find requested task"]);
  });

  test("index: each job's state in words and colour, duration, tasks and test cases; filtered by user and name; links to slaves, flaky tests and metrics", async () => {
    const own = await makeMaster();
    try {
      await own.master.submitJob({ job_id: "nightly.alice.1700000000.1", user: "alice", name: "nightly", tasks: [{ isolate_hash: "a".repeat(64), description: "good" }] });
      await own.master.submitJob({ job_id: "bob.1700000000.2", user: "bob", tasks: [{ isolate_hash: "b".repeat(64), description: "bad" }] });
      await drive(own, "s1", (description) => (description === "bad" ? "FAILED" : "SUCCEEDED"), { runMs: 65_000 });
      await own.master.submitJob({ job_id: "running.alice.1700000000.3", user: "alice", tasks: [{ isolate_hash: "c".repeat(64), description: "slow" }] });
      const html = await page(own, "/");
      expect(html).toContain('<a href="flaky">flaky tests</a> <a href="slaves">slaves</a> <a href="metrics">metrics</a>');
      const row = (jobId: string) => new RegExp(`<tr class="(\\w+)"><td class="mono"><a href="job\\?job_id=${jobId.replaceAll(".", "\\.")}">[^<]+</a></td><td>([^<]+)</td><td>[^<]+</td><td>[^<]+</td><td>([^<]+)</td>`).exec(html)?.slice(1);
      expect(row("nightly.alice.1700000000.1")).toEqual(["succeeded", "passed", "1 m 05 s"]);
      expect(row("bob.1700000000.2")).toEqual(["failed", "failed", expect.stringMatching(/ s$/)]);
      expect(row("running.alice.1700000000.3")?.slice(0, 2)).toEqual(["running", "running"]);
      // By user, by name, and both; empty fields filter nothing.
      const shown = async (query: Record<string, string>) => [...(await page(own, withQuery("/", query))).matchAll(/<a href="job\?job_id=([^"]+)">/g)].map((m) => m[1]).sort();
      expect(await shown({ user: "alice" })).toEqual(["nightly.alice.1700000000.1", "running.alice.1700000000.3"]);
      expect(await shown({ name: "nightly" })).toEqual(["nightly.alice.1700000000.1"]);
      expect(await shown({ user: "bob", name: "nightly" })).toEqual([]);
      expect((await shown({ user: "", name: " " })).length).toBe(3);
      // A hostile filter is shown back escaped, in the field it came from.
      const hostile = await page(own, withQuery("/", { user: `"><script>alert(1)</script>` }));
      expect(hostile).toContain('value="&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;"');
      expectNoInjection(hostile);
    } finally {
      await own.close();
    }
  });

  test("index leaves out jobs older than a day", async () => {
    const old = await makeMaster();
    try {
      await submit(old, "old.1700000000.1", [{ description: "a" }]);
      old.clock.advance(25 * 3600_000);
      await submit(old, "new.1700090000.1", [{ description: "a" }]);
      const html = await page(old, "/");
      expect(html).toContain("new.1700090000.1");
      expect(html).not.toContain("old.1700000000.1");
    } finally {
      await old.close();
    }
  });
});

/** The live page's script run against a stand-in DOM, fetching from the app, on timers the test fires. */
function runFollowScript(fx: MasterFixture, html: string, pageUrl: string) {
  const script = /<script>([\s\S]*?)<\/script>/.exec(html)![1]!;
  const unescape = (v: string) => v.replaceAll("&quot;", '"').replaceAll("&#39;", "'").replaceAll("&lt;", "<").replaceAll("&gt;", ">").replaceAll("&amp;", "&");
  const preTag = /<pre id="log"[^>]*>/.exec(html)![0];
  const camel = (name: string) => name.replace(/-(\w)/g, (_, c: string) => c.toUpperCase());
  const dataset = Object.fromEntries([...preTag.matchAll(/data-([\w-]+)="([^"]*)"/g)].map((m) => [camel(m[1]!), unescape(m[2]!)]));
  const appended: string[] = [];
  const status = { textContent: "" };
  const listeners: (() => void)[] = [];
  const pause = { hidden: true, textContent: "Pause", addEventListener: (_: string, fn: () => void) => listeners.push(fn), setAttribute: () => {} };
  const timers: (() => void)[] = [];
  const pre = { dataset, insertAdjacentHTML: (where: string, added: string) => appended.push(`${where}:${added}`) };
  const elements: Record<string, unknown> = { log: pre, "log-status": status, "log-pause": pause };
  const document = { getElementById: (id: string) => elements[id], body: { scrollHeight: 0 } };
  const window = { innerHeight: 0, scrollY: 0, scrollTo: () => {} };
  const fetchFromApp = (url: string, init?: RequestInit) => Promise.resolve(fx.app.request(new Request(new URL(url, pageUrl).href, init)));
  const setTimeout = (fn: () => void) => timers.push(fn);
  const clearTimeout = () => timers.splice(0);
  new Function("document", "window", "location", "fetch", "setTimeout", "clearTimeout", script)(document, window, { hash: "" }, fetchFromApp, setTimeout, clearTimeout);
  return {
    appended, status, timers, pause,
    /** The text the appended lines show (tags dropped, entities decoded). */
    text: () => preText(`<pre id="log">${appended.map((a) => a.replace(/^beforeend:/, "")).join("")}</pre>`),
    clickPause: () => listeners.forEach((fn) => fn()),
    /** Waits for the script to schedule its next poll, then runs it. */
    async nextPoll(): Promise<void> {
      await waitUntil(() => timers.length > 0, "the script to schedule a poll");
      timers.shift()!();
    },
  };
}

describe("live log page", () => {
  let fx: MasterFixture;
  afterEach(() => fx.close());

  test("follows a running attempt's lines as they come, an unfinished line (and a split character) waiting for its newline, with a pause, to the end", async () => {
    fx = await makeMaster();
    const jobId = "follow.1700000000.1";
    const [taskId] = await submit(fx, jobId, [{ description: "grow" }]);
    const [lease] = await drive(fx, "s1", () => "hold");
    const key = outputKey(jobId, taskId!, 0, "stdout");
    const full = new TextEncoder().encode("abc <i>\n“quoted” \x1b[31mred\x1b[0m\nmore & more\n");
    const cut = 10; // line 2 begins at 8; 10 is inside the 3 bytes of “
    fx.master.deps.liveLogs.append(key, 0, full.subarray(0, cut));

    const url = `${PUBLIC_URL}${withQuery("/log", { job_id: jobId, task_id: taskId!, attempt: 0, log: "stdout" })}`;
    const html = await page(fx, url.slice(PUBLIC_URL.length));
    expect(preText(html)).toBe("abc <i>\n");
    expect(html).toContain(`data-end="8"`);
    expect(html).toContain(`<button type="button" id="log-pause" hidden="">Pause</button>`);
    const follow = runFollowScript(fx, html, url);
    expect(follow.pause.hidden).toBe(false);

    // The first poll finds only the unfinished line 2 and shows nothing of it.
    await waitUntil(() => follow.timers.length > 0, "the first poll");
    expect(follow.text()).toBe("");
    fx.master.deps.liveLogs.append(key, cut, full.subarray(cut, 40));
    await follow.nextPoll();
    await waitUntil(() => follow.timers.length > 0, "the second poll");
    expect(follow.text()).toBe("“quoted” red\n");
    expect(follow.appended.join("")).toContain(`<span id="L2"><a href="#L2"></a>`);
    expect(follow.appended.join("")).toContain(`<span class="ansi-red-fg">red</span>`);

    // Paused, the script polls no more; resumed, it polls at once.
    follow.clickPause();
    expect(follow.timers).toHaveLength(0);
    expect(follow.status.textContent).toBe("Paused at line 2.");
    expect(follow.pause.textContent).toBe("Resume");

    // The attempt ends: the uploaded log replaces the live one and the script stops.
    await fx.master.deps.artifacts.put(key, full);
    await fx.master.dispatcher.report({
      lease_id: lease!.lease_id, job_id: jobId, task_id: taskId!, attempt: 0, state: "SUCCEEDED", exit_code: 0, message: null,
      times: { fetch_done_at: null, map_done_at: null, command_start_at: null, command_end_at: null, upload_done_at: null },
      cache: null, stdout_key: key, stderr_key: null, artifact_key: null, artifact_missing: false,
    });
    follow.clickPause();
    await waitUntil(() => follow.status.textContent.includes("ended"), "the script to see the end");
    expect(follow.text()).toBe("“quoted” red\nmore & more\n");
    expect(follow.appended.join("")).toContain(`id="L3"`);
    expect(follow.appended.join("")).not.toContain("\uFFFD");
    expect(follow.timers).toHaveLength(0);

    // Once ended, the page shows the whole log and runs no script.
    const ended = await page(fx, url.slice(PUBLIC_URL.length));
    expect(ended).toContain(`data-follow="false"`);
    expect(ended).not.toContain("<script");
    expect(preText(ended)).toBe("abc <i>\n“quoted” red\nmore & more\n");
  });
});

test("wholeUtf8Length stops before a character cut short, and only then", () => {
  const bytes = new TextEncoder().encode("a“😀");
  expect([...Array(bytes.byteLength + 1).keys()].map((n) => wholeUtf8Length(bytes.subarray(0, n)))).toEqual([0, 1, 1, 1, 4, 4, 4, 4, 8]);
  expect(wholeUtf8Length(new Uint8Array([0x80, 0x80, 0x80, 0x80]))).toBe(4);
});
