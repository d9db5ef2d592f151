/**
 * The index page's Autoscaler section: the decisions `dt autoscale` posts,
 * newest first, every value escaped, and dist_test's headline untouched.
 */
import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import type { AutoscaleDecision } from "../../src/master/protocol.ts";
import { HOSTILE_MESSAGE, HOSTILE_SLAVE, type MasterFixture, call, makeMaster } from "./fixture.ts";

const T0 = 1_700_000_000_000;

function decision(i: number, overrides: Partial<AutoscaleDecision> = {}): AutoscaleDecision {
  return { at: T0 + i * 1000, autoscaler: "dt autoscale on ci (local)", action: "grow", from: i, to: i + 1, reason: `decision ${i}`, ...overrides };
}

async function index(fx: MasterFixture): Promise<string> {
  const res = await call(fx, "/");
  expect(res.status).toBe(200);
  return res.text();
}

describe("index page: Autoscaler", () => {
  let fx: MasterFixture;
  beforeEach(async () => {
    fx = await makeMaster();
  });
  afterEach(() => fx.close());

  test("no section until an autoscaler reports", async () => {
    const html = await index(fx);
    expect(html).not.toContain("Autoscaler");
    expect(html).not.toContain('id="autoscaler"');
  });

  test("a posted decision shows under the stats: time, autoscaler, action, from → to, reason, slaves; the headline stays as gce-autoscale.py reads it", async () => {
    const statsBefore = /<code id="stats">[^<]*<\/code>/.exec(await index(fx))![0];
    const posted = await call(fx, "/api/v1/autoscaler/decisions", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(decision(0, { action: "drain", from: 2, to: 0, reason: "2 slaves idle for 10m00s or more and nothing queued for them", slaves: ["auto-1", "auto-2"] })),
    });
    expect(posted.status).toBe(201);
    const html = await index(fx);
    expect(/<code id="stats">[^<]*<\/code>/.exec(html)![0]).toBe(statsBefore);
    expect(/Queue length: (\d+).*Running: (\d+)/.exec(html)?.slice(1)).toEqual(["0", "0"]);
    // Under the stats, above the jobs.
    expect(html.indexOf('id="stats"')).toBeLessThan(html.indexOf("<h1>Autoscaler</h1>"));
    expect(html.indexOf("<h1>Autoscaler</h1>")).toBeLessThan(html.indexOf("<h1>Recent jobs"));
    const row = /<tr class="decision-drain">(.*?)<\/tr>/s.exec(html)?.[1];
    const cells = [...(row ?? "").matchAll(/<td[^>]*>(.*?)<\/td>/gs)].map((m) => m[1]);
    expect(cells).toEqual(["2023-11-14 22:13:20Z", "dt autoscale on ci (local)", "drain", "2 → 0", "2 slaves idle for 10m00s or more and nothing queued for them", "auto-1, auto-2"]);
  });

  test("newest first, the latest 20, with a link to the rest", async () => {
    for (let i = 0; i < 25; i++) fx.master.decisions.add(decision(i));
    const html = await index(fx);
    const reasons = [...html.matchAll(/<td>(decision \d+)<\/td>/g)].map((m) => m[1]);
    expect(reasons).toEqual(Array.from({ length: 20 }, (_, i) => `decision ${24 - i}`));
    expect(html).toContain("The latest 20 of 25; all of them at ");
    expect(html).toContain('<a href="api/v1/autoscaler/decisions">');
  });

  test("every value is escaped", async () => {
    fx.master.decisions.add(decision(1, { autoscaler: HOSTILE_SLAVE, reason: HOSTILE_MESSAGE, slaves: ["<script>alert(1)</script>"] }));
    const html = await index(fx);
    expect(html).not.toContain("<img");
    expect(html).not.toContain("<script>alert");
    expect(html).not.toContain(HOSTILE_SLAVE);
    expect(html).toContain("&lt;img src=x onerror=alert(1)&gt;");
    expect(html).toContain("&lt;script&gt;alert(1)&lt;/script&gt;");
  });
});
