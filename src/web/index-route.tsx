/** @jsxImportSource hono/jsx */
/**
 * The index page's route (`/`, see webRoutes) and its live region's polls
 * (`/?format=fragment`, with the page's filter). A poll is answered 304
 * from memory while nothing the region shows changed: the master's count
 * of writes to any job (Master.changesVersion), the queue's numbers, the
 * autoscalers' decisions and the filter say so without reading the
 * database, and the ETag itself says until when the rendered times hold.
 */
import type { Context } from "hono";
import { SMALL_FORM_BYTES, requestParams } from "../master/http/cherrypy.ts";
import type { Master } from "../master/master.ts";
import type { JobSummary } from "../master/protocol.ts";
import { IndexLive, IndexPage } from "./index-page.tsx";
import { sendBadQuery, sendPage } from "./layout.tsx";
import { notModified, sendFragment } from "./live.tsx";

/** dist_test's index listed the jobs of the last day. */
export const RECENT_JOBS_MS = 86_400_000;
/** Each listed job's counts come from the master's status cache (1,000 jobs); a day of a busy master's jobs stays well under this. */
const RECENT_JOBS_LIMIT = 500;
/**
 * While a listed job is unfinished its duration grows with the clock, not
 * with writes: the region is rendered again this often even when nothing
 * was written. Two or three of the region's 2 s polls: a running job's
 * duration moves on visibly, and an idle master's open index costs a render
 * every few seconds, not every poll.
 */
export const RUNNING_REFRESH_MS = 5_000;

/** The filter as the form sends it: empty fields filter nothing; anything else is matched exactly, as `dt jobs --user/--name` does. */
interface IndexFilter {
  user?: string;
  name?: string;
}

/**
 * What the region shows, but for the clock: hashed, since the filter may
 * be long or hostile and an ETag is a header. Read before the jobs are, so
 * a write between the two makes the next poll render again rather than
 * keep a stale region under a new tag.
 */
export function indexStateTag(master: Master, stats: ReturnType<Master["queueStats"]>, filter: IndexFilter): string {
  const state = JSON.stringify([master.changesVersion(), stats.queued, stats.running, stats.idleSlaves, master.decisions.version, filter.user ?? null, filter.name ?? null]);
  return Bun.hash(state).toString(36);
}

/**
 * Until when a render of `jobs` at `now` stays true while nothing is
 * written: an unfinished job's duration grows (RUNNING_REFRESH_MS), and the
 * oldest job leaves the last day's window. Infinity: for as long as nothing
 * changes.
 */
export function renderValidUntil(jobs: readonly JobSummary[], now: number): number {
  let until = Number.POSITIVE_INFINITY;
  for (const j of jobs) {
    if (j.status === "running") until = Math.min(until, now + RUNNING_REFRESH_MS);
    // listJobs keeps created_at >= now - RECENT_JOBS_MS: the job is gone one millisecond after this.
    until = Math.min(until, j.created_at + RECENT_JOBS_MS + 1);
  }
  return until;
}

/** The region's ETag: its state, and until when its times hold (`-` for as long as the state does). */
export function indexEtag(stateTag: string, validUntil: number): string {
  return `${stateTag}-${Number.isFinite(validUntil) ? Math.ceil(validUntil).toString(36) : "-"}`;
}

/** True when the poll's If-None-Match is a tag of this state whose times still hold at `now`: the region it shows is current. */
export function stillCurrent(ifNoneMatch: string | undefined, stateTag: string, now: number): boolean {
  if (ifNoneMatch === undefined) return false;
  const prefix = `"${stateTag}-`;
  if (!ifNoneMatch.startsWith(prefix) || !ifNoneMatch.endsWith('"')) return false;
  const until = ifNoneMatch.slice(prefix.length, -1);
  if (until === "-") return true;
  if (!/^[0-9a-z]{1,12}$/.test(until)) return false;
  return now < Number.parseInt(until, 36);
}

/** `/[?user=&name=][&format=fragment]`: the index page, or its live region's HTML for a poll. */
export async function indexPage(c: Context, master: Master): Promise<Response> {
  const params = await requestParams(c, SMALL_FORM_BYTES);
  const filter: IndexFilter = { user: params.get("user")?.trim() || undefined, name: params.get("name")?.trim() || undefined };
  const format = params.get("format") || "html";
  if (format !== "html" && format !== "fragment") {
    return sendBadQuery(c, "dt: bad format", `format must be html or fragment, got ${JSON.stringify(format.slice(0, 40))}`);
  }
  const now = master.deps.clock.now();
  const stats = master.queueStats();
  const stateTag = indexStateTag(master, stats, filter);
  const held = c.req.header("If-None-Match");
  if (format === "fragment" && held !== undefined && stillCurrent(held, stateTag, now)) {
    // The tag the poll holds, answered as it is.
    return notModified(c, held.slice(1, -1));
  }
  // No ETA: the index does not show it, and it walks the queue for each running job.
  const jobs = await master.listJobs({ since: now - RECENT_JOBS_MS, limit: RECENT_JOBS_LIMIT, ...filter }, { estimate: false });
  const etag = indexEtag(stateTag, renderValidUntil(jobs, now));
  const data = { stats, decisions: master.decisions.list(), jobs, filter, now };
  // Never done: new jobs may come at any time, and the index is the page a team leaves open for them.
  if (format === "fragment") return sendFragment(c, etag, false, () => <IndexLive {...data} />);
  return sendPage(c, <IndexPage {...data} etag={etag} />);
}
