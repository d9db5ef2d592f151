/**
 * The browser helper itself, against a page made to misbehave: what
 * pages.test.ts asserts empty must catch a console error, an uncaught
 * exception and a missing subresource, or its checks could not fail.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { TestBrowser, chromiumMissing, linksOn } from "./browser.ts";

const missing = chromiumMissing();
if (missing) console.warn(`SKIP test/browser/browser.test.ts: ${missing}`);

const BAD_PAGE = `<!doctype html><title>bad</title><h1>Bad</h1>
<a href="/ok#top">ok</a> <a href="ok">same, relative</a> <a href="/gone">gone</a> <a href="mailto:x@example.com">mail</a>
<img src="/missing.png"><script>console.error("logged on purpose")</script><script>throw new Error("thrown on purpose")</script>`;

describe.skipIf(!!missing)("TestBrowser", () => {
  let server: ReturnType<typeof Bun.serve>;
  let browser: TestBrowser;
  beforeAll(async () => {
    server = Bun.serve({
      port: 0,
      hostname: "127.0.0.1",
      fetch: (req) => (new URL(req.url).pathname === "/" ? new Response(BAD_PAGE, { headers: { "Content-Type": "text/html" } }) : new Response("no", { status: 404 })),
    });
    browser = await TestBrowser.launch();
  });
  afterAll(async () => {
    await browser?.close();
    server?.stop(true);
  });

  test("records console errors, uncaught exceptions and failed subresources", async () => {
    const visit = await browser.visit(`http://127.0.0.1:${server.port}/`);
    expect(visit.status).toBe(200);
    expect(visit.consoleErrors.some((e) => e.startsWith("logged on purpose"))).toBe(true);
    expect(visit.consoleErrors).toContain("uncaught: thrown on purpose");
    expect(visit.failedRequests).toContain(`404 http://127.0.0.1:${server.port}/missing.png`);
  });

  test("lists each http link once, resolved, without its fragment", async () => {
    const visit = await browser.visit(`http://127.0.0.1:${server.port}/`);
    const base = `http://127.0.0.1:${server.port}`;
    expect(await linksOn(visit.page)).toEqual([`${base}/ok`, `${base}/gone`]);
  });
});
