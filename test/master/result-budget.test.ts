/**
 * Result reports carry test cases (up to 64 MiB each) and cost the master
 * several times their body while parsed and stored, so the bodies in memory
 * at once are bounded (SlaveBodyLimits.maxResultBytesInFlight): a report
 * past the budget waits, unread, for the ones before it.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { Hono } from "hono";
import { errorBody, httpStatusOf } from "../../src/common/http.ts";
import { ByteBudget } from "../../src/master/http/byte-budget.ts";
import { DEFAULT_SLAVE_BODY_LIMITS, slaveRoutes } from "../../src/master/http/slave-api.ts";
import type { Lease } from "../../src/master/protocol.ts";
import { report } from "./helpers.ts";
import { type MasterFixture, hashOf, makeMaster } from "../web/fixture.ts";

/** Waits for `check` to hold, polling each tick, failing after `ms`. */
async function until(check: () => boolean, what: string, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

describe("ByteBudget", () => {
  test("lets in what fits, one body alone whatever its size, the rest in order as room is freed; an aborted waiter leaves the line", async () => {
    const budget = new ByteBudget(100);
    const first = await budget.take(60, undefined, "a");
    const huge = budget.take(500, undefined, "b");
    const small = budget.take(10, undefined, "c");
    const order: string[] = [];
    void huge.then(() => order.push("huge"));
    void small.then(() => order.push("small"));
    await until(() => budget.waiters === 2, "two waiters");
    // The small one fits, but waits behind the huge one: first come, first served.
    expect(order).toEqual([]);
    first();
    first(); // a second release does nothing
    const releaseHuge = await huge;
    expect(budget.heldBytes).toBe(500);
    releaseHuge();
    (await small)();
    expect(order).toEqual(["huge", "small"]);
    expect(budget.heldBytes).toBe(0);

    const held = await budget.take(100, undefined, "d");
    const abort = new AbortController();
    const gone = budget.take(10, abort.signal, "POST result");
    const next = budget.take(10, undefined, "e");
    await until(() => budget.waiters === 2, "two waiters");
    abort.abort();
    await expect(gone).rejects.toThrow("POST result: the client went away");
    held();
    (await next)();
    expect(budget.heldBytes).toBe(0);
  });
});

describe("result reports over HTTP within the budget", () => {
  let fx: MasterFixture;
  let server: ReturnType<typeof Bun.serve>;
  let base: string;
  let budget: ByteBudget;
  let leases: Lease[];
  beforeAll(async () => {
    fx = await makeMaster();
    const limits = { ...DEFAULT_SLAVE_BODY_LIMITS, maxResultBytes: 2 ** 20, maxResultBytesInFlight: 2 ** 20 };
    budget = new ByteBudget(limits.maxResultBytesInFlight);
    const app = new Hono();
    app.onError((err, c) => c.json(errorBody(err), httpStatusOf(err)));
    app.route("/api/v1/slave", slaveRoutes(fx.master, limits, budget));
    server = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: app.fetch });
    base = `http://127.0.0.1:${server.port}`;
    await fx.master.submitJob({ job_id: "budget.1700000000.1", tasks: [{ isolate_hash: hashOf("a"), description: "a" }, { isolate_hash: hashOf("b"), description: "b" }] });
    leases = await fx.master.dispatcher.lease({ slave: { name: "s1", slots: 2, dimensions: {}, version: "t" }, free: 2, wait_ms: 0 });
  });
  afterAll(async () => {
    await server.stop(true);
    await fx.close();
  });

  test("a report waits, unread, while a report without a Content-Length (counted at the limit) is being sent; then both are stored", async () => {
    expect(leases).toHaveLength(2);
    const [slow, quick] = leases as [Lease, Lease];
    const now = fx.clock.now();
    const slowBody = new TextEncoder().encode(JSON.stringify({ ...report(slow, "SUCCEEDED", now), cases: [{ suite: "S", name: "slow", status: "passed" }] }));
    // The slow report's first half now, the rest when the test says: a slave on a slow link.
    let finish!: () => void;
    const stream = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(slowBody.subarray(0, 10));
        finish = () => {
          controller.enqueue(slowBody.subarray(10));
          controller.close();
        };
      },
    });
    const slowAnswer = fetch(`${base}/api/v1/slave/result`, { method: "POST", headers: { "content-type": "application/json" }, body: stream });
    await until(() => budget.heldBytes === 2 ** 20, "the slow report to hold the whole budget");
    let quickDone = false;
    const quickAnswer = fetch(`${base}/api/v1/slave/result`, {
      method: "POST", headers: { "content-type": "application/json" },
      body: JSON.stringify({ ...report(quick, "FAILED", now), cases: [{ suite: "S", name: "quick", status: "failed" }] }),
    }).then((r) => ((quickDone = true), r));
    await until(() => budget.waiters === 1, "the quick report to wait for room");
    expect(quickDone).toBe(false);
    finish();
    expect((await slowAnswer).status).toBe(200);
    expect((await quickAnswer).status).toBe(200);
    expect(budget.heldBytes).toBe(0);
    const counts = await fx.master.deps.repo.jobCaseCounts("budget.1700000000.1");
    expect(counts).toMatchObject({ total: 2, passed: 1, failed: 1 });
  });
});
