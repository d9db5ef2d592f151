import { describe, expect, test } from "bun:test";
import { Hono } from "hono";
import { checkReadiness, readinessHandler } from "../../../src/common/metrics/readiness.ts";

describe("readiness", () => {
  test("every check passes: ok, with each check's time", async () => {
    const r = await checkReadiness([{ name: "database", check: async () => {} }, { name: "queue", check: async () => 1 }]);
    expect(r.ok).toBe(true);
    expect(Object.keys(r.checks)).toEqual(["database", "queue"]);
    expect(r.checks.database).toMatchObject({ ok: true });
  });

  test("a hung check fails at the timeout while the others answer; a throwing one names its error", async () => {
    const started = performance.now();
    const r = await checkReadiness(
      [
        { name: "hung", check: () => new Promise(() => {}) },
        {
          name: "throws",
          check: () => {
            throw new Error("bucket gone");
          },
        },
        { name: "fine", check: async () => {} },
      ],
      100,
    );
    expect(performance.now() - started).toBeLessThan(1_000);
    expect(r.ok).toBe(false);
    expect(r.checks.hung).toMatchObject({ ok: false, error: "no answer within 100 ms" });
    expect(r.checks.throws).toMatchObject({ ok: false, error: "bucket gone" });
    expect(r.checks.fine).toMatchObject({ ok: true });
  });

  test("the handler: 200 when ready, 503 naming the failed checks as a dt error answer", async () => {
    let broken = false;
    const app = new Hono();
    app.get("/readyz", readinessHandler(() => [{ name: "artifacts", check: async () => { if (broken) throw new Error("directory /x is gone"); } }]));
    const ok = await app.request("/readyz?verbose=1");
    expect(ok.status).toBe(200);
    expect(await ok.json()).toMatchObject({ ok: true, checks: { artifacts: { ok: true } } });
    broken = true;
    const down = await app.request("/readyz");
    expect(down.status).toBe(503);
    expect(down.headers.get("cache-control")).toBe("no-store");
    expect(await down.json()).toMatchObject({ ok: false, code: "unreachable", error: "not ready: artifacts: directory /x is gone", checks: { artifacts: { ok: false } } });
  });
});
