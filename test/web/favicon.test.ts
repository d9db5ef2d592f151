/**
 * dt's icon: `/favicon.svg`, linked by every page relative to the master's
 * root (one level up from `/tests/…`), and `/favicon.ico`, which browsers ask
 * for by themselves, both the same SVG under the pages' policy.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { FAVICON_SVG } from "../../src/web/favicon.ts";
import { PAGE_SECURITY_POLICY } from "../../src/web/layout.tsx";
import { type MasterFixture, call, makeMaster, submit, withQuery } from "./fixture.ts";

let fx: MasterFixture;
beforeAll(async () => {
  fx = await makeMaster();
  await submit(fx, "icon.alice.1700000000.1", [{ description: "a" }]);
});
afterAll(() => fx.close());

test("/favicon.svg and /favicon.ico answer the SVG, cacheable, with nothing in it that runs", async () => {
  for (const path of ["/favicon.svg", "/favicon.ico"]) {
    const res = await call(fx, path);
    expect({ path, status: res.status, type: res.headers.get("content-type") }).toEqual({ path, status: 200, type: "image/svg+xml" });
    expect(res.headers.get("cache-control")).toBe("public, max-age=86400");
    expect(await res.text()).toBe(FAVICON_SVG);
  }
  expect(FAVICON_SVG).toStartWith('<svg xmlns="http://www.w3.org/2000/svg"');
  expect(FAVICON_SVG).not.toMatch(/<script|on\w+=|href=/i);
  // The pages' policy lets them load it: an image of their own origin.
  expect(PAGE_SECURITY_POLICY).toContain("img-src 'self'");
  // HEAD too (a proxy's check), and nothing else is an icon.
  expect((await call(fx, "/favicon.ico", { method: "HEAD" })).status).toBe(200);
  expect((await call(fx, "/favicon.png")).status).toBe(404);
});

test("every page links the icon relative to the root, so a master behind a path prefix serves it too", async () => {
  const pages: [string, string][] = [
    ["/", "favicon.svg"],
    [withQuery("/job", { job_id: "icon.alice.1700000000.1" }), "favicon.svg"],
    [withQuery("/job", { job_id: "nobody" }), "favicon.svg"],
    [withQuery("/trace", { job_id: "icon.alice.1700000000.1" }), "favicon.svg"],
    ["/slaves", "favicon.svg"],
    ["/flaky", "favicon.svg"],
    [withQuery("/tests/history", { binary: "b", suite: "s", case: "c" }), "../favicon.svg"],
    [withQuery("/tests/history", { binary: "b" }), "../favicon.svg"],
  ];
  for (const [path, href] of pages) {
    const html = await (await call(fx, path)).text();
    expect({ path, icon: /<link rel="icon" type="image\/svg\+xml" href="([^"]*)"\/?>/.exec(html)?.[1] }).toEqual({ path, icon: href });
  }
});
