/** GET /api/v1/jobs/:job/tasks?trouble_since=MS: the tasks a watching client prints as they fail. */
import { afterEach, expect, test } from "bun:test";
import type { TaskView } from "../../src/master/protocol.ts";
import { HASH, report, serveTestMasterApp, slave } from "./helpers.ts";

const served: Awaited<ReturnType<typeof serveTestMasterApp>>[] = [];
afterEach(async () => {
  for (const s of served.splice(0)) await s.stop();
});

test("only tasks with an attempt that failed, timed out or was lost at or after the time given, each with all its attempts", async () => {
  const s = await serveTestMasterApp();
  served.push(s);
  const { master, clock } = s.h;
  await master.submitJob({ job_id: "j", tasks: ["pass", "fail", "lost"].map((d) => ({ isolate_hash: HASH, description: d, max_retries: 1 })) });
  const leases = await master.dispatcher.lease({ slave: slave(), free: 3, wait_ms: 0 });
  const by = (d: string) => leases.find((l) => l.description === d)!;
  await master.dispatcher.report(report(by("pass"), "SUCCEEDED", clock.now()));
  await master.dispatcher.report(report(by("fail"), "FAILED", clock.now()));
  const failedAt = clock.now();
  // The slave stops heartbeating the third: its lease lapses, the task is requeued.
  clock.advance(31_000);
  await master.dispatcher.heartbeat({ slave: slave("other"), leases: [] });
  await master.dispatcher.sweep();
  const get = async (q: string) => {
    const res = await fetch(`${s.url}/api/v1/jobs/j/tasks?${q}`);
    return { status: res.status, body: (await res.json()) as { tasks: TaskView[]; error?: string } };
  };
  const all = await get("trouble_since=0");
  expect(all.body.tasks.map((t) => [t.description, t.attempts.map((a) => a.state)]).sort()).toEqual([
    ["fail", ["FAILED", "QUEUED"]],
    ["lost", ["SLAVE_LOST", "QUEUED"]],
  ]);
  const later = await get(`trouble_since=${failedAt + 1}`);
  expect(later.body.tasks.map((t) => t.description)).toEqual(["lost"]);
  expect((await get(`trouble_since=${clock.now() + 1}`)).body.tasks).toEqual([]);
  for (const bad of ["trouble_since=", "trouble_since=-1", "trouble_since=yesterday", "trouble_since=1.5"]) {
    const r = await get(bad);
    expect([bad, r.status]).toEqual([bad, 400]);
    expect(r.body.error).toContain("trouble_since must be epoch milliseconds");
  }
  expect((await fetch(`${s.url}/api/v1/jobs/nope/tasks?trouble_since=0`)).status).toBe(404);
  // Without the query: every task, as before.
  expect((await get("")).body.tasks).toHaveLength(3);
});
