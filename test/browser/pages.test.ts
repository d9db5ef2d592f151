/**
 * dt's pages in a real headless Chromium (test/browser/browser.ts), against a
 * real `dt master` and `dt slave` that ran a passing and a failing task
 * (sample-job.ts): each page loads without console errors or failed
 * requests, shows its heading, and every link on it answers 200. Skips,
 * saying why, without a chromium (DT_TEST_CHROMIUM or `chromium` on the PATH).
 */
import { afterAll, afterEach, beforeAll, describe, expect, test } from "bun:test";
import { type PageVisit, TestBrowser, chromiumMissing, pageFaults } from "./browser.ts";
import { FAIL_TASK, PASS_TASK, SLAVE_NAME, type SampleJob, startSampleJob } from "./sample-job.ts";

const missing = chromiumMissing();
if (missing) console.warn(`SKIP test/browser/pages.test.ts: ${missing}`);

/** Start-up of master, slave and browser plus the job: a few seconds here, more on a loaded CI machine. */
const SETUP_TIMEOUT_MS = 45_000;

describe.skipIf(!!missing)("dt's pages in headless Chromium", () => {
  let sample: SampleJob;
  let browser: TestBrowser;
  beforeAll(async () => {
    [sample, browser] = await Promise.all([startSampleJob(), TestBrowser.launch()]);
  }, SETUP_TIMEOUT_MS);
  afterAll(async () => {
    await browser?.close();
    await sample?.close();
  });
  // A page left open keeps polling the master while the next test runs.
  const visits: PageVisit[] = [];
  afterEach(async () => {
    for (const visit of visits.splice(0)) await visit.close();
  });

  /** Opens the page and checks it is clean (browser.ts pageFaults: no errors, a title and heading, every link 200); returns the visit for page-specific checks. */
  async function openClean(url: string): Promise<PageVisit> {
    const visit = await browser.visit(url);
    visits.push(visit);
    expect(await pageFaults(visit)).toEqual([]);
    // The icon the page links, fetched as Chromium would (it may ask after `load`, past what pageFaults saw).
    const icon = await visit.page.locator('link[rel="icon"]').getAttribute("href");
    const iconRes = await fetch(new URL(icon ?? "missing", visit.page.url()));
    expect([iconRes.status, iconRes.headers.get("content-type")]).toEqual([200, "image/svg+xml"]);
    return visit;
  }

  const heading = (visit: PageVisit) => visit.page.locator("h1").first().textContent();

  test("index lists the job", async () => {
    const visit = await openClean(sample.pages.index);
    expect(await visit.page.locator(`a[href*="${sample.jobId}"]`).count()).toBeGreaterThan(0);
  });

  test("job page names the job and both tasks", async () => {
    const visit = await openClean(sample.pages.job);
    expect(await heading(visit)).toContain(sample.jobId);
    const body = await visit.page.locator("body").innerText();
    expect(body).toContain(PASS_TASK);
    expect(body).toContain(FAIL_TASK);
  });

  test("log page shows the failing task's output, its colours rendered, and a line anchor scrolls to its line", async () => {
    const visit = await openClean(sample.pages.log);
    const text = await visit.page.locator("#log").innerText();
    expect(text).toContain(`line 5 of ${FAIL_TASK}`);
    // The ANSI codes became colour, not text.
    expect(text).not.toContain("\u001b");
    expect(await visit.page.locator('#log span[class^="ansi-"], #log span[style*="color"]').count()).toBeGreaterThan(0);
    const anchored = await openClean(`${sample.pages.log}&line=3#L3`);
    expect(await anchored.page.locator("#L3:target").count()).toBe(1);
  });

  test("trace draws the job's attempts", async () => {
    const visit = await openClean(sample.pages.trace);
    expect(await heading(visit)).toContain(sample.jobId);
    // Drawn, not only in the markup: each of the two attempts is a bar the browser laid out with a width.
    const widths = await visit.page.locator("svg rect").evaluateAll((bars) => bars.map((bar) => bar.getBoundingClientRect().width));
    expect(widths.filter((w) => w > 0).length).toBeGreaterThanOrEqual(sample.tasks.length);
  });

  test("binary history page shows the failing task's run, a letter in its strip, and links that answer", async () => {
    const visit = await openClean(sample.pages.binary);
    expect(await heading(visit)).toBe(FAIL_TASK);
    expect(await visit.page.locator("#strip span").allInnerTexts()).toEqual(["F"]);
    expect(await visit.page.locator("#runs tbody tr").count()).toBe(1);
    expect(await visit.page.locator("#runs").innerText()).toContain(sample.jobId);
  });

  test("slaves page lists the slave", async () => {
    const visit = await openClean(sample.pages.slaves);
    expect(await visit.page.locator("body").innerText()).toContain(SLAVE_NAME);
  });
});
