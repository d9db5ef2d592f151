/**
 * dt's pages in a real headless Chromium during and after a job of real
 * processes with a failed, a flaky, a sharded, a lost and a long chatty task
 * (scenario-job.ts): the log viewer renders colours, follows a running log
 * without a reload and pauses; a line anchor scrolls to its line; the trace
 * draws the running attempt as a bar that grows; every page loads without
 * console errors and every link on it answers 200. The job page's block is
 * written against the DOM contract of the job page's redesign (issue 16):
 * rows per task, their order, counts that agree with the API and with the
 * filters, nested attempts, failed cases linking to their log line, sorting
 * and live updates. Skips, saying why, without a chromium.
 */
import { afterAll, afterEach, beforeAll, describe, expect, test } from "bun:test";
import type { Page } from "playwright-core";
import type { JobSummary } from "../../src/master/protocol.ts";
import { type PageVisit, TestBrowser, chromiumMissing, pageFaults } from "./browser.ts";
import { atEnd, attemptStates, detailsOpen, filterCounts, headerCounts, inView, jobRows, logLines, markWindow, stillMarked, taskRow, waitLogLines, waitRowAndLiveEnd } from "./page-reads.ts";
import { FAILED_CASE, FAILED_CASE_LINES, SHARDS, SLAVE_DOOMED, SLAVE_STEADY, type ScenarioJob, TASK, describeTasks, startScenarioJob } from "./scenario-job.ts";

const missing = chromiumMissing();
if (missing) console.warn(`SKIP test/browser/scenario.test.ts: ${missing}`);

/** Master, two slaves, the browser and the job up to "all but chatty done": ~6 s here, more on a loaded CI machine. */
const SETUP_TIMEOUT_MS = 60_000;
/** One test: a few page loads and a few seconds of watching a live page. */
const TEST_TIMEOUT_MS = 30_000;
/** The log page asks for new lines every second once caught up, and the slave forwards output every second: a few of those. */
const FOLLOW_DEADLINE_MS = 10_000;
/** The job page's live region polls every 2 s (live.tsx LIVE_POLL_MS); chatty ends ~50 ms after it is told and reports within a second or two. */
const LIVE_DEADLINE_MS = 15_000;
/**
 * How long a paused log is watched for growth: three of the page's poll
 * intervals (1 s), while chatty writes ~20 lines a second. Watching for
 * something not to happen takes a wait; this is the one the test makes.
 */
const PAUSED_WATCH_MS = 3_000;

describe.skipIf(!!missing)("a job with a failed, a flaky, a sharded, a lost and a chatty task, in headless Chromium", () => {
  let scenario: ScenarioJob;
  let browser: TestBrowser;
  beforeAll(async () => {
    [scenario, browser] = await Promise.all([startScenarioJob(), TestBrowser.launch()]);
    if (scenario.gtestFallback) console.warn(`test/browser/scenario.test.ts: the sharded task runs a shell stand-in, not the gtest binary: ${scenario.gtestFallback}`);
  }, SETUP_TIMEOUT_MS);
  afterAll(async () => {
    await browser?.close();
    await scenario?.close();
  });
  // A page left open keeps polling the master while the next test runs.
  const visits: PageVisit[] = [];
  afterEach(async () => {
    for (const visit of visits.splice(0)) await visit.close();
  });

  /** Opens the page and checks it is clean (pageFaults: no console errors or failed requests, a title and heading, every link 200). */
  async function openClean(url: string, viewport?: { width: number; height: number }): Promise<PageVisit> {
    const visit = await browser.visit(url, viewport);
    visits.push(visit);
    expect(await pageFaults(visit)).toEqual([]);
    return visit;
  }

  test("the scenario ran as designed: a failure, a flaky retry, three shards, a lost attempt requeued, chatty still running", async () => {
    const tasks = await scenario.readTasks();
    const states = (description: string) => scenario.task(description).attempts.map((a) => a.state);
    expect(states(TASK.passes)).toEqual(["SUCCEEDED"]);
    expect(states(TASK.fails)).toEqual(["FAILED"]);
    expect(states(TASK.flaky)).toEqual(["FAILED", "SUCCEEDED"]);
    expect(scenario.task(TASK.flaky).group).toBe("flaky");
    for (let i = 0; i < SHARDS; i++) expect(states(`${TASK.sharded}.${i}`)).toEqual(["SUCCEEDED"]);
    expect(scenario.task(TASK.lost).attempts.map((a) => [a.state, a.slave])).toEqual([["SLAVE_LOST", SLAVE_DOOMED], ["SUCCEEDED", SLAVE_STEADY]]);
    expect(states(TASK.chatty)).toEqual(["RUNNING"]);
    expect(tasks).toHaveLength(5 + SHARDS);
    const { counts } = await scenario.job();
    expect(counts).toMatchObject({ total_tasks: 5 + SHARDS, running: 1, queued: 0, succeeded: 2 + SHARDS, failed: 1, flaky: 1, retries: 1, requeues: 1 });
    // The failing and the flaky case came from the gtest-like output; the sharded binary's cases from its XML (or the stand-in's output).
    expect(counts.cases).toMatchObject({ failed: 1, flaky: 1 });
  });

  describe("log viewer", () => {
    test(
      "a running log: colours rendered, opens at its end, follows without a reload; Pause stops it and Resume goes on",
      async () => {
        const visit = await openClean(scenario.pages.chattyLog);
        const { page } = visit;
        await markWindow(page);
        const first = await logLines(page);
        // The scenario waited for more lines than the window holds: the page opened scrolled down to the end.
        expect(first).toBeGreaterThanOrEqual(100);
        expect(await atEnd(page)).toEqual({ scrolled: true, atEnd: true });
        // Followed: lines arrive in the page itself, not by a reload.
        await waitLogLines(page, first + 20, FOLLOW_DEADLINE_MS);
        expect(await stillMarked(page)).toBe(true);
        // Colours are spans, not escape codes, in the first lines and in the ones the script appended.
        const text = await page.locator("#log").innerText();
        expect(text).toContain("tick 1: warming the cache");
        expect(text).not.toContain("\u001b");
        expect(text).not.toContain("␛");
        expect(await page.locator("#L1 span.ansi-green-fg").count()).toBe(1);
        expect(await page.locator("#log > span:last-child span.ansi-cyan-fg").count()).toBe(1);
        // The reader is kept at the end as it moves.
        expect(await atEnd(page)).toEqual({ scrolled: true, atEnd: true });

        await page.locator("#log-pause").click();
        expect(await page.locator("#log-pause").getAttribute("aria-pressed")).toBe("true");
        // A poll already on its way when Pause was pressed may still land: count from the next poll interval on.
        await Bun.sleep(1_000);
        const paused = await logLines(page);
        await Bun.sleep(PAUSED_WATCH_MS);
        expect(await logLines(page)).toBe(paused);

        await page.locator("#log-pause").click();
        expect(await page.locator("#log-pause").textContent()).toBe("Pause");
        await waitLogLines(page, paused + 1, FOLLOW_DEADLINE_MS);
        expect(await stillMarked(page)).toBe(true);
        expect(visit.problems()).toEqual([]);
      },
      TEST_TIMEOUT_MS,
    );

    test(
      "a line anchor: line=3#L3 starts the page at line 3 and targets it; #L60 of a long running log scrolls down to it and stays there while lines arrive",
      async () => {
        const fromLine = await openClean(`${scenario.pages.chattyViewLog}&line=3#L3`);
        expect(await fromLine.page.locator("#L3:target").count()).toBe(1);
        expect(await fromLine.page.locator("#log > span").first().getAttribute("id")).toBe("L3");
        expect(await inView(fromLine.page, "#L3")).toBe(true);

        // A short window, so that line 60 lies well below the header: reaching it takes a scroll.
        const anchored = await openClean(`${scenario.pages.chattyViewLog}#L60`, { width: 1000, height: 400 });
        const { page } = anchored;
        expect(await page.locator("#L60:target").count()).toBe(1);
        expect(await page.locator("#L60").innerText()).toContain("tick ");
        expect((await atEnd(page)).scrolled).toBe(true);
        expect(await inView(page, "#L60")).toBe(true);
        // The page follows the log, but a reader at a line is not pulled to the end.
        const lines = await logLines(page);
        await waitLogLines(page, lines + 1, FOLLOW_DEADLINE_MS);
        expect(await inView(page, "#L60")).toBe(true);
        expect(anchored.problems()).toEqual([]);
      },
      TEST_TIMEOUT_MS,
    );
  });

  test(
    "trace: the running chatty attempt is a bar marked running, and it is longer at the next look",
    async () => {
      const visit = await openClean(scenario.pages.trace);
      const { page } = visit;
      const running = page.locator(`#timeline a[aria-label^="${TASK.chatty} "][aria-label*="so far"]`);
      expect(await running.count()).toBe(1);
      // In words as well as colour: the bar's title says running.
      expect(await running.getAttribute("aria-label")).toContain("running: RUNNING");
      const chattyId = scenario.task(TASK.chatty).task_id;
      expect(await running.getAttribute("href")).toContain(`task_id=${encodeURIComponent(chattyId)}`);
      // The finished attempts are drawn too, the lost one among them.
      expect(await page.locator(`#timeline a[aria-label*="SLAVE_LOST"]`).count()).toBe(1);
      const width = () => running.locator("rect").evaluate((bar) => bar.getBoundingClientRect().width);
      const before = await width();
      expect(before).toBeGreaterThan(0);
      // The trace page is not live: the next look is a reload, a little later on the master's clock.
      await Bun.sleep(1_500);
      await page.reload();
      expect(await running.count()).toBe(1);
      expect(await width()).toBeGreaterThan(before);
      expect(visit.problems()).toEqual([]);
    },
    TEST_TIMEOUT_MS,
  );

  test(
    "index and slaves pages: clean, the job and both slaves listed",
    async () => {
      const index = await openClean(scenario.pages.index);
      expect(await index.page.locator(`a[href*="${scenario.jobId}"]`).count()).toBeGreaterThan(0);
      const slaves = await openClean(scenario.pages.slaves);
      const text = await slaves.page.locator("body").innerText();
      expect(text).toContain(SLAVE_STEADY);
      expect(text).toContain(SLAVE_DOOMED);
    },
    TEST_TIMEOUT_MS,
  );

  test(
    "the failed task's finished log: clean, coloured, with the failure's lines",
    async () => {
      const visit = await openClean(`${scenario.pages.failedLog}&line=${FAILED_CASE_LINES.first}#L${FAILED_CASE_LINES.first}`);
      expect(await visit.page.locator(`#L${FAILED_CASE_LINES.first}`).innerText()).toContain(`[ RUN      ] ${FAILED_CASE}`);
      expect(await visit.page.locator(`#L${FAILED_CASE_LINES.first + 1}`).innerText()).toContain("fails_test.cc:12: Failure");
      expect(await visit.page.locator(`#L${FAILED_CASE_LINES.last} span.ansi-red-fg`).count()).toBe(1);
      expect(await inView(visit.page, `#L${FAILED_CASE_LINES.first}`)).toBe(true);
    },
    TEST_TIMEOUT_MS,
  );

  /**
   * The redesigned job page's DOM contract (issue 16; being built beside
   * these tests, which fail until it lands):
   * - `h1` has the job id; `#job-live[data-live-src]` while the job runs;
   * - `#job-counts [data-count=NAME]` whose text is the number, for failed,
   *   flaky, running, queued, passed, lost and total — counts of rows (a
   *   sharded binary is one), so the API's (by task) with the shards folded:
   *   lost counts the tasks with a lost attempt (here the one requeue);
   * - `#filters [data-filter=NAME]` each with `data-count` equal to the header's;
   * - `table#tasks tbody tr.task[data-state][data-name]`, one per task, a
   *   sharded binary one row with `data-shards`; failed rows first, then flaky;
   * - attempts in the row's `details[data-key]` as `tr.attempt[data-state]`,
   *   an infrastructure loss with class `lost`;
   * - a failed row's `li.failed-case` with `a.case-log` landing on the log at its line;
   * - `th a[data-sort=name|state|duration]`.
   */
  describe("job page", () => {
    /** What the header must say: the API's counts, by the page's names, the sharded binary's passed shards one passed row. */
    const expectedCounts = ({ counts: c }: JobSummary) => ({
      failed: c.failed, flaky: c.flaky, running: c.running, queued: c.queued, passed: c.succeeded - (SHARDS - 1), lost: c.requeues, total: c.total_tasks - (SHARDS - 1),
    });
    /** The row states the scenario's tasks must have, chatty's given. */
    const expectedRows = (chatty: string) => ({ [TASK.fails]: "failed", [TASK.flaky]: "flaky", [TASK.passes]: "passed", [TASK.sharded]: "passed", [TASK.lost]: "passed", [TASK.chatty]: chatty });

    /** The checks of the page at one moment: heading, counts against the API, filters against the header, rows, their order and attempts. */
    async function checkJobPage(page: Page, summary: JobSummary, chattyState: string) {
      expect(await page.locator("h1").first().innerText()).toContain(scenario.jobId);
      const header = await headerCounts(page);
      expect(header).toEqual(expectedCounts(summary));
      const filters = await filterCounts(page);
      for (const name of ["failed", "flaky", "running", "passed"]) expect(Object.keys(filters)).toContain(name);
      for (const [name, count] of Object.entries(filters)) if (name in header) expect({ name, count }).toEqual({ name, count: header[name]! });

      const rows = await jobRows(page);
      expect(Object.fromEntries(rows.map((r) => [r.name, r.state]))).toEqual(expectedRows(chattyState));
      expect(rows).toHaveLength(6);
      expect(rows.find((r) => r.name === TASK.sharded)?.shards).toBe(String(SHARDS));
      expect(rows.filter((r) => r.shards !== null).map((r) => r.name)).toEqual([TASK.sharded]);
      // Failed first, then flaky, then the rest.
      expect(rows.slice(0, 2).map((r) => r.state)).toEqual(["failed", "flaky"]);

      expect(await attemptStates(page, TASK.lost)).toEqual([["SLAVE_LOST", true], ["SUCCEEDED", false]]);
      expect(await attemptStates(page, TASK.flaky)).toEqual([["FAILED", false], ["SUCCEEDED", false]]);
      expect(await attemptStates(page, TASK.sharded)).toEqual(Array.from({ length: SHARDS }, () => ["SUCCEEDED", false]));
    }

    test(
      "while the job runs: counts agree with the API and the filters, one row per task, failed and flaky first, attempts nested, the lost one marked lost",
      async () => {
        const summary = await scenario.job();
        // Checked against the API first, so a failure below is the page's, not the scenario's.
        expect(summary.status, describeTasks(await scenario.readTasks())).toBe("running");
        const visit = await openClean(scenario.pages.job);
        expect(await visit.page.locator("#job-live[data-live-src]").count()).toBe(1);
        await checkJobPage(visit.page, summary, "running");
      },
      TEST_TIMEOUT_MS,
    );

    test(
      "a failed case is listed under its task with a link that lands on the log at the case's line",
      async () => {
        const visit = await openClean(scenario.pages.job);
        const failedCase = taskRow(visit.page, TASK.fails).locator("li.failed-case", { hasText: FAILED_CASE });
        expect(await failedCase.count()).toBe(1);
        const href = await failedCase.locator("a.case-log").getAttribute("href");
        expect(href).not.toBeNull();
        const log = await browser.visit(new URL(href!, visit.page.url()).href);
        visits.push(log);
        expect(log.status).toBe(200);
        const landed = new URL(log.page.url());
        expect(landed.searchParams.get("line")).not.toBeNull();
        const line = Number(/^#L(\d+)$/.exec(landed.hash)?.[1]);
        // At the case: from its RUN line to its FAILED line.
        expect(line).toBeGreaterThanOrEqual(FAILED_CASE_LINES.first);
        expect(line).toBeLessThanOrEqual(FAILED_CASE_LINES.last);
        expect(await log.page.locator(`#L${line}:target`).count()).toBe(1);
        expect(await inView(log.page, `#L${line}`)).toBe(true);
        expect(log.problems()).toEqual([]);
      },
      TEST_TIMEOUT_MS,
    );

    test(
      "sortable by name, state and duration; sorted by name, the rows are in name order",
      async () => {
        const visit = await openClean(scenario.pages.job);
        for (const key of ["name", "state", "duration"]) expect(await visit.page.locator(`th a[data-sort="${key}"]`).count()).toBe(1);
        // A link: sorting is the server's, and works without scripts.
        await Promise.all([visit.page.waitForURL((url) => url.href !== scenario.pages.job), visit.page.locator('th a[data-sort="name"]').click()]);
        const names = (await jobRows(visit.page)).map((r) => r.name);
        expect(names).toHaveLength(6);
        expect(names).toEqual([...names].sort());
        expect(visit.problems()).toEqual([]);
      },
      TEST_TIMEOUT_MS,
    );

    test(
      "live: without a reload, chatty's row turns passed and the page says the job finished; an opened attempts list stays open",
      async () => {
        const visit = await openClean(scenario.pages.job);
        const { page } = visit;
        expect(await page.locator("#job-live[data-live-src]").count()).toBe(1);
        expect(await taskRow(page, TASK.chatty).getAttribute("data-state")).toBe("running");
        const details = taskRow(page, TASK.lost).locator("details[data-key]");
        expect(await details.count()).toBe(1);
        const key = await details.getAttribute("data-key");
        await details.locator("summary").first().click();
        expect(await detailsOpen(page, key!)).toBe(true);
        await markWindow(page);

        scenario.finishChatty();
        await waitRowAndLiveEnd(page, TASK.chatty, "passed", LIVE_DEADLINE_MS);
        expect(await stillMarked(page)).toBe(true);
        // Found by its key among the new rows: still there, still open.
        expect(await detailsOpen(page, key!)).toBe(true);
        expect(visit.problems()).toEqual([]);
      },
      TEST_TIMEOUT_MS,
    );

    test(
      "after the job: no live region polling, counts, rows and order final",
      async () => {
        scenario.finishChatty();
        const summary = await scenario.waitFinished();
        const visit = await openClean(scenario.pages.job);
        expect(await visit.page.locator("#job-live").count()).toBe(1);
        expect(await visit.page.locator("#job-live[data-live-src]").count()).toBe(0);
        await checkJobPage(visit.page, summary, "passed");
        expect(await headerCounts(visit.page)).toMatchObject({ running: 0, queued: 0, failed: 1, flaky: 1, lost: 1, passed: 4, total: 6 });
      },
      TEST_TIMEOUT_MS,
    );
  });

  test(
    "trace after the job: no bar left running",
    async () => {
      scenario.finishChatty();
      await scenario.waitFinished();
      const visit = await openClean(scenario.pages.trace);
      expect(await visit.page.locator('#timeline a[aria-label*="so far"]').count()).toBe(0);
      expect(await visit.page.locator(`#timeline a[aria-label^="${TASK.chatty} "]`).count()).toBe(1);
    },
    TEST_TIMEOUT_MS,
  );
});
