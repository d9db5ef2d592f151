/**
 * The index page keeps itself current in a real headless Chromium, against a
 * real master on a real port (serveTestMaster: the server `dt master` runs,
 * in this process): a job submitted over HTTP after the page opened shows in
 * its table, and the headline moves, without a reload, without console
 * errors, keeping what the reader typed in the filter. Skips, saying why,
 * without a chromium (DT_TEST_CHROMIUM or `chromium` on the PATH).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { TempDirs } from "../helpers/temp.ts";
import { putManifest, serveTestMaster } from "../master/helpers.ts";
import { TestBrowser, chromiumMissing } from "./browser.ts";

const missing = chromiumMissing();
if (missing) console.warn(`SKIP test/browser/index-live.test.ts: ${missing}`);

/** The region polls every 2 s; a loaded 2-core machine gets several polls' room. */
const UPDATE_DEADLINE_MS = 15_000;

describe.skipIf(!!missing)("the index in headless Chromium", () => {
  const temps = new TempDirs();
  let server: Awaited<ReturnType<typeof serveTestMaster>>;
  let browser: TestBrowser;
  let manifest: string;
  beforeAll(async () => {
    [server, browser] = await Promise.all([temps.make("dt-browser-index-").then((dir) => serveTestMaster(dir)), TestBrowser.launch()]);
    manifest = await putManifest(server.url, "index");
  });
  afterAll(async () => {
    await browser?.close();
    await server?.stop(100);
    await temps.cleanup();
  });

  const submit = async (jobId: string, user: string) => {
    const res = await fetch(`${server.url}/api/v1/jobs`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ job_id: jobId, user, tasks: [{ isolate_hash: manifest, description: `${jobId} task` }] }),
    });
    expect(res.status).toBe(201);
  };

  test("a job submitted after the page opened appears without a reload; the headline follows; the filter field keeps its text", async () => {
    await submit("before.alice.1700000000.1", "alice");
    const visit = await browser.visit(`${server.url}/`);
    try {
      expect(visit.status).toBe(200);
      const { page } = visit;
      const jobLinks = () => page.locator("#jobs a[href^='job?']").allInnerTexts();
      expect(await jobLinks()).toEqual(["before.alice.1700000000.1"]);
      expect(await page.locator("#stats").innerText()).toBe("Queue length: 1 Running: 0 Idle slaves: 0");
      // Marks that a reload would wipe: a property of the window, and text typed into the form.
      await page.evaluate(() => ((globalThis as { dtMark?: string }).dtMark = "still here"));
      await page.fill("#job-filter input[name=user]", "half-typed");

      await submit("after.bob.1700000000.2", "bob");
      await page.locator("#jobs a", { hasText: "after.bob.1700000000.2" }).waitFor({ timeout: UPDATE_DEADLINE_MS });

      expect((await jobLinks()).sort()).toEqual(["after.bob.1700000000.2", "before.alice.1700000000.1"]);
      expect(await page.locator("#stats").innerText()).toBe("Queue length: 2 Running: 0 Idle slaves: 0");
      expect(await page.locator("#job-counts").innerText()).toBe("2 jobs: 2 running");
      expect(await page.evaluate(() => (globalThis as { dtMark?: string }).dtMark)).toBe("still here");
      expect(await page.inputValue("#job-filter input[name=user]")).toBe("half-typed");
      expect(await page.locator("#live-status").innerText()).toStartWith("Live: updated ");
      expect(visit.problems()).toEqual([]);
    } finally {
      await visit.close();
    }
  }, UPDATE_DEADLINE_MS + 10_000);

  test("a filtered index polls with its filter: another user's new job stays out, the user's own comes in", async () => {
    const visit = await browser.visit(`${server.url}/?user=carol`);
    try {
      const { page } = visit;
      await submit("other.dave.1700000000.3", "dave");
      await submit("mine.carol.1700000000.4", "carol");
      await page.locator("#jobs a", { hasText: "mine.carol.1700000000.4" }).waitFor({ timeout: UPDATE_DEADLINE_MS });
      expect(await page.locator("#jobs a[href^='job?']").allInnerTexts()).toEqual(["mine.carol.1700000000.4"]);
      expect(visit.problems()).toEqual([]);
    } finally {
      await visit.close();
    }
  }, UPDATE_DEADLINE_MS + 10_000);
});
