/**
 * A job's tasks a page at a time (src/master/http/task-pages.ts), over real
 * HTTP: `GET /api/v1/jobs/:id/tasks?limit=&cursor=` pages that add up to the
 * whole list, which (without `limit`) and dist_test's `/tasks` stream a page
 * at a time; bad limits and cursors are 400s naming them; an unknown job is
 * still a 404 (dist_test: an empty list); and dt's client pages through.
 */
import { afterEach, expect, test } from "bun:test";
import { MasterClient } from "../../src/client/api.ts";
import { distTestRoutes } from "../../src/master/http/dist-test-api.ts";
import { MAX_TASK_PAGE } from "../../src/master/http/task-pages.ts";
import type { TaskView } from "../../src/master/protocol.ts";
import { HASH, report, serveTestMasterApp, slave } from "./helpers.ts";

const served: Awaited<ReturnType<typeof serveTestMasterApp>>[] = [];
afterEach(async () => {
  for (const s of served.splice(0)) await s.stop();
});

const N = MAX_TASK_PAGE * 2 + 503;

async function bigJob() {
  const s = await serveTestMasterApp((master) => [{ prefix: "/", app: distTestRoutes(master) }]);
  served.push(s);
  await s.h.master.submitJob({ job_id: "pages.1", tasks: Array.from({ length: N }, (_, i) => ({ isolate_hash: HASH, description: `t${i}`, max_retries: 1 })) });
  // A few attempts more than tasks: two failures retried.
  const leases = await s.h.master.dispatcher.lease({ slave: slave("s1", {}, 3), free: 3, wait_ms: 0 });
  for (const [i, lease] of leases.entries()) await s.h.master.dispatcher.report(report(lease, i < 2 ? "FAILED" : "SUCCEEDED", s.h.clock.now()));
  return s;
}

const getJson = async (url: string) => {
  const res = await fetch(url);
  return { status: res.status, type: res.headers.get("content-type"), body: (await res.json()) as any };
};

test("pages of at most limit tasks, each with its attempts, add up to the streamed whole list, in order", async () => {
  const s = await bigJob();
  const whole = await getJson(`${s.url}/api/v1/jobs/pages.1/tasks`);
  expect(whole.status).toBe(200);
  expect(whole.type).toStartWith("application/json");
  expect(whole.body.tasks).toHaveLength(N);
  expect(whole.body.tasks.map((t: TaskView) => t.description)).toEqual(Array.from({ length: N }, (_, i) => `t${i}`));
  expect(whole.body.tasks.slice(0, 3).map((t: TaskView) => t.attempts.map((a) => a.state))).toEqual([["FAILED", "QUEUED"], ["FAILED", "QUEUED"], ["SUCCEEDED"]]);

  const pages: TaskView[][] = [];
  const cursors: (string | null)[] = [];
  for (let cursor: string | null = null; ; ) {
    const page = await getJson(`${s.url}/api/v1/jobs/pages.1/tasks?limit=${MAX_TASK_PAGE}${cursor ? `&cursor=${cursor}` : ""}`);
    expect(page.status).toBe(200);
    pages.push(page.body.tasks);
    cursors.push(page.body.next_cursor);
    if (!page.body.next_cursor) break;
    cursor = page.body.next_cursor;
  }
  expect(pages.map((p) => p.length)).toEqual([MAX_TASK_PAGE, MAX_TASK_PAGE, 503]);
  expect(cursors).toEqual([String(MAX_TASK_PAGE), String(2 * MAX_TASK_PAGE), null]);
  expect(pages.flat()).toEqual(whole.body.tasks);
  // dt's client pages through the same list.
  expect(await new MasterClient(s.url).jobTasks("pages.1")).toEqual(whole.body.tasks);
});

test("dist_test's /tasks streams one record per attempt, filtered as before; an unknown job is an empty list", async () => {
  const s = await bigJob();
  const all = await getJson(`${s.url}/tasks?job_id=pages.1`);
  expect(all.status).toBe(200);
  expect(all.body).toHaveLength(N + 2);
  expect(all.body[0]).toMatchObject({ attempt: 0, description: "t0" });
  expect(all.body[1]).toMatchObject({ attempt: 1, description: "t0" });
  const failed = await getJson(`${s.url}/tasks?job_id=pages.1&status=failed`);
  expect(failed.body.map((r: { description: string; attempt: number }) => `${r.description}/${r.attempt}`)).toEqual(["t0/0", "t1/0"]);
  expect((await getJson(`${s.url}/tasks?job_id=nobody.1`)).body).toEqual([]);
  expect((await getJson(`${s.url}/failed_tasks?job_id=pages.1`)).body).toHaveLength(2);
});

test("a bad limit or cursor is a 400 naming it; an unknown job a 404, paged or whole", async () => {
  const s = await bigJob();
  for (const [query, says] of [
    ["limit=0", "limit must be an integer from 1 to 1000"], ["limit=1001", "limit must be an integer from 1 to 1000"], ["limit=x", "limit must be"], ["limit=", "limit must be"],
    ["limit=5&cursor=-1", "cursor must be a next_cursor"], ["limit=5&cursor=abc", "cursor must be a next_cursor"], ["limit=5&cursor=1e3", "cursor must be"], ["cursor=5", "cursor needs limit"],
    [`limit=5&cursor=${"9".repeat(50)}`, "cursor must be"],
  ]) {
    const r = await getJson(`${s.url}/api/v1/jobs/pages.1/tasks?${query}`);
    expect([query, r.status]).toEqual([query, 400]);
    expect(r.body.error).toContain(says);
  }
  // A cursor past the end: an empty last page.
  expect((await getJson(`${s.url}/api/v1/jobs/pages.1/tasks?limit=5&cursor=999999`)).body).toEqual({ tasks: [], next_cursor: null });
  expect((await getJson(`${s.url}/api/v1/jobs/nope/tasks?limit=5`)).status).toBe(404);
  expect((await getJson(`${s.url}/api/v1/jobs/nope/tasks`)).status).toBe(404);
});

test("dt's client asks a master from before pages for the whole list once it refuses limit", async () => {
  const task = { task_id: `${HASH}.0`, description: "old", attempts: [] };
  const asked: string[] = [];
  // What a master before pages answered: limit without trouble_since is a 400 naming it; without, every task.
  const old = Bun.serve({
    port: 0, hostname: "127.0.0.1",
    fetch(req) {
      const url = new URL(req.url);
      asked.push(`${url.pathname}${url.search}`);
      if (url.searchParams.has("limit")) return Response.json({ error: "limit is for trouble_since: GET tasks lists every task", code: "invalid_input" }, { status: 400 });
      return Response.json({ tasks: [task] });
    },
  });
  try {
    expect(await new MasterClient(`http://127.0.0.1:${old.port}`).jobTasks("j.1")).toEqual([task] as never);
    expect(asked).toEqual(["/api/v1/jobs/j.1/tasks?limit=1000", "/api/v1/jobs/j.1/tasks"]);
  } finally {
    await old.stop(true);
  }
});
