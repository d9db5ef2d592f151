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
  expect(all.body).toMatchObject({ more: false });
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

test("a job with more failed tasks than the limit: the earliest first, at most limit (default 1,000), and more: true; a bad limit is refused", async () => {
  const s = await serveTestMasterApp();
  served.push(s);
  const { master, clock } = s.h;
  const n = 1_205;
  await master.submitJob({ job_id: "big", tasks: Array.from({ length: n }, (_, i) => ({ isolate_hash: HASH, description: `t${i}` })) });
  const leases = await master.dispatcher.lease({ slave: slave("s1", {}, n), free: n, wait_ms: 0 });
  expect(leases).toHaveLength(n);
  // Reported one ms apart, in reverse description order: the answer's order is the reports', not the tasks'.
  const start = clock.now();
  for (const lease of [...leases].reverse()) {
    clock.advance(1);
    await master.dispatcher.report(report(lease, "FAILED", clock.now()));
  }
  const get = async (q: string) => {
    const res = await fetch(`${s.url}/api/v1/jobs/big/tasks?${q}`);
    return { status: res.status, body: (await res.json()) as { tasks: TaskView[]; more?: boolean; error?: string } };
  };
  const first = await get("trouble_since=0");
  expect(first.body.tasks).toHaveLength(1_000);
  expect(first.body.more).toBe(true);
  expect(first.body.tasks.slice(0, 2).map((t) => t.description)).toEqual([`t${n - 1}`, `t${n - 2}`]);
  const reported = first.body.tasks.map((t) => t.attempts[0]!.reported_at!);
  expect(reported).toEqual([...reported].sort((a, b) => a - b));
  // The next page, from the last one got: the rest, with the last one again (the same ms), and no more.
  const rest = await get(`trouble_since=${reported.at(-1)}&limit=1000`);
  expect(rest.body.tasks).toHaveLength(n - 1_000 + 1);
  expect(rest.body.more).toBe(false);
  expect(new Set([...first.body.tasks, ...rest.body.tasks].map((t) => t.task_id)).size).toBe(n);
  expect((await get(`trouble_since=${start}&limit=5`)).body.tasks.map((t) => t.description)).toEqual([1, 2, 3, 4, 5].map((i) => `t${n - i}`));
  for (const bad of ["trouble_since=0&limit=0", "trouble_since=0&limit=1001", "trouble_since=0&limit=many", "trouble_since=0&limit="]) {
    const r = await get(bad);
    expect([bad, r.status]).toEqual([bad, 400]);
    expect(r.body.error).toContain("limit must be an integer from 1 to 1000");
  }
  // Without trouble_since, limit pages every task (task-pages.test.ts).
  expect((await get("limit=5")).body.tasks).toHaveLength(5);
}, 30_000);
