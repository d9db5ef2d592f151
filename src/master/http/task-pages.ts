/**
 * A job's tasks over HTTP a page at a time: `?limit=&cursor=` for dt's
 * client, and the whole list streamed page by page for callers that want
 * it whole (dist_test's `/tasks`, the native list without `limit`), so that
 * a 100,000-task job's answer is never one 60 MB string in the master.
 */
import type { Context } from "hono";
import { DtError } from "../../common/errors.ts";
import type { Master } from "../master.ts";
import type { Job } from "../model.ts";
import type { TaskView } from "../protocol.ts";

/** Tasks a page holds at most, and what a streamed list reads at once: about 1 MB of JSON. */
export const MAX_TASK_PAGE = 1_000;

/** `limit` and `cursor` from a query: a page, or null for the whole list. A bad value is a 400 naming it. */
export function taskPageParams(limit: string | undefined, cursor: string | undefined): { from: number; limit: number } | null {
  if (limit === undefined) {
    if (cursor !== undefined) throw new DtError("invalid_input", "cursor needs limit: give both, or neither for every task");
    return null;
  }
  const n = Number(limit);
  if (!/^\d{1,9}$/.test(limit) || n < 1 || n > MAX_TASK_PAGE) throw new DtError("invalid_input", `limit must be an integer from 1 to ${MAX_TASK_PAGE}, got ${JSON.stringify(limit.slice(0, 40))}`);
  if (cursor === undefined || cursor === "") return { from: 0, limit: n };
  if (!/^\d{1,9}$/.test(cursor)) throw new DtError("invalid_input", `cursor must be a next_cursor this master gave, got ${JSON.stringify(cursor.slice(0, 40))}`);
  return { from: Number(cursor), limit: n };
}

/**
 * Every task of a job as JSON, `head` + the items `item` makes of each page
 * (comma-separated) + `tail`, streamed: one page is read and written at a
 * time. The first page is read before the answer starts, so an unknown job
 * is still an error status, not a broken 200.
 */
export async function streamTasks(c: Context, master: Master, jobId: string, head: string, tail: string, item: (job: Job, tasks: TaskView[]) => unknown[]): Promise<Response> {
  let page = await master.jobTasksPage(jobId, 0, MAX_TASK_PAGE);
  const encoder = new TextEncoder();
  let first = true;
  let listed = 0;
  const stream = new ReadableStream<Uint8Array>({
    // Each pull writes something: a page whose tasks all fall to a filter reads the next at once (a pull that enqueued nothing is not called again).
    async pull(controller) {
      for (;;) {
        const items = item(page.job, page.tasks).map((x) => JSON.stringify(x));
        listed += page.tasks.length;
        const last = page.next === null;
        if (items.length > 0 || last) {
          const body = items.length > 0 ? `${first ? head : ","}${items.join(",")}` : first ? head : "";
          first = false;
          controller.enqueue(encoder.encode(last ? `${body}${tail}` : body));
          if (last) {
            controller.close();
            // Each page's views and JSON are garbage once written: tens of MB for 100,000 tasks.
            master.reclaimer.after(listed);
          }
          else page = await master.jobTasksPage(jobId, page.next!, MAX_TASK_PAGE);
          return;
        }
        page = await master.jobTasksPage(jobId, page.next!, MAX_TASK_PAGE);
      }
    },
  });
  c.header("Content-Type", "application/json; charset=utf-8");
  return c.body(stream);
}
