/**
 * The browser helper itself, against a page made to misbehave: what
 * pages.test.ts asserts empty must catch a console error, an uncaught
 * exception, a missing subresource and a missing icon, or its checks could
 * not fail.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { waitUntil } from "../helpers/wait.ts";
import { TestBrowser, chromiumMissing, linksOn, pageFaults } from "./browser.ts";

const missing = chromiumMissing();
if (missing) console.warn(`SKIP test/browser/browser.test.ts: ${missing}`);

const BAD_PAGE = `<!doctype html><title>bad</title><h1>Bad</h1>
<a href="/ok#top">ok</a> <a href="ok">same, relative</a> <a href="/gone">gone</a> <a href="mailto:x@example.com">mail</a>
<a href="/moved">moved</a> <a href="/moved-away">moved away</a>
<img src="/missing.png"><script>console.error("logged on purpose")</script><script>throw new Error("thrown on purpose")</script>`;

/** Chromium asks for an icon within a second or so of `load`; a loaded machine gets room. */
const ICON_DEADLINE_MS = 10_000;

/**
 * A clean page but for its icon, which the server does not have. At the path
 * browsers ask for by themselves: the helper once left that path out of its
 * reports, when dt served no icon.
 */
const ICON_PAGE = `<!doctype html><title>icon</title><link rel="icon" href="/favicon.ico"><h1>Icon</h1>`;

describe.skipIf(!!missing)("TestBrowser", () => {
  let server: ReturnType<typeof Bun.serve>;
  let browser: TestBrowser;
  beforeAll(async () => {
    server = Bun.serve({
      port: 0,
      hostname: "127.0.0.1",
      fetch: (req) => {
        const path = new URL(req.url).pathname;
        if (path === "/") return new Response(BAD_PAGE, { headers: { "Content-Type": "text/html" } });
        if (path === "/bare") return new Response("<!doctype html><p>no title, no heading, no links</p>", { headers: { "Content-Type": "text/html" } });
        if (path === "/ok") return new Response("ok");
        // A link may go through a redirect (a case's log link does); where it lands is what counts.
        if (path === "/moved") return Response.redirect(`http://127.0.0.1:${server.port}/ok#L3`, 302);
        if (path === "/moved-away") return Response.redirect(`http://127.0.0.1:${server.port}/gone`, 302);
        return new Response("no", { status: 404 });
      },
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

  test("records a missing icon: /favicon.ico is a request like any other", async () => {
    // On a server of its own, so that no earlier visit to the origin has already settled its icon.
    const own = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: (req) => (new URL(req.url).pathname === "/" ? new Response(ICON_PAGE, { headers: { "Content-Type": "text/html" } }) : new Response("no", { status: 404 })) });
    const visit = await browser.visit(`http://127.0.0.1:${own.port}/`);
    try {
      // Chromium may ask for the icon after `load`: wait for the report, with a deadline. It fetches /favicon.ico itself, so the 404 is a console error, not a page's response.
      const recorded = () => visit.problems().some((p) => p.includes("404") && p.includes(`http://127.0.0.1:${own.port}/favicon.ico`));
      await waitUntil(recorded, `the icon's 404 to be recorded: ${JSON.stringify(visit.problems())}`, ICON_DEADLINE_MS);
    } finally {
      await visit.close();
      await own.stop(true);
    }
  }, ICON_DEADLINE_MS + 5_000);

  test("lists each http link once, resolved, without its fragment", async () => {
    const visit = await browser.visit(`http://127.0.0.1:${server.port}/`);
    const base = `http://127.0.0.1:${server.port}`;
    expect(await linksOn(visit.page)).toEqual([`${base}/ok`, `${base}/gone`, `${base}/moved`, `${base}/moved-away`]);
  });

  test("pageFaults names each fault: errors, failed requests, links that do not land on a 200, and a page without title, heading or links", async () => {
    const base = `http://127.0.0.1:${server.port}`;
    const faults = await pageFaults(await browser.visit(`${base}/`));
    expect(faults).toContain("uncaught: thrown on purpose");
    expect(faults).toContain(`404 ${base}/missing.png`);
    expect(faults).toContain(`404 ${base}/gone`);
    expect(faults).toContain(`404 (redirected to ${base}/gone) ${base}/moved-away`);
    // The page itself, /ok and /moved (which lands on /ok) are fine.
    expect(faults.filter((f) => f.endsWith(`${base}/ok`) || f.endsWith(`${base}/moved`) || f.startsWith("the page answered") || f.startsWith("no "))).toEqual([]);
    expect(await pageFaults(await browser.visit(`${base}/bare`))).toEqual(["no <title>", "no <h1> with text", "no links on the page"]);
  });
});
