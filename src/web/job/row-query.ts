/**
 * What a job page's query picks of its rows: the filter (`status=`), the
 * sort (`sort=`, `order=`) and the page (`page=`). The header's counts and
 * the filters' counts are the same function of the rows (countRows), so
 * they cannot disagree.
 */
import { DtError } from "../../common/errors.ts";
import { type JobRow, type RowState, rowDurationMs, stateRank } from "./rows.ts";

/**
 * The filters, by the word `status=` takes. Besides the page's own words,
 * dist_test's (running, failed, succeeded, timedout, flaky, finished) keep
 * working, so links into old job pages still land; they now pick tasks,
 * not attempts.
 */
export const PAGE_FILTERS = {
  failed: (r: JobRow) => r.state === "failed",
  flaky: (r: JobRow) => r.state === "flaky" || r.state === "retrying",
  running: (r: JobRow) => r.state === "running" || r.state === "retrying",
  queued: (r: JobRow) => r.state === "queued",
  passed: (r: JobRow) => r.state === "passed",
  lost: (r: JobRow) => r.lost > 0,
  canceled: (r: JobRow) => r.state === "canceled",
  quarantined: (r: JobRow) => r.state === "quarantined",
  succeeded: (r: JobRow) => r.state === "passed" || r.state === "quarantined" || r.state === "flaky",
  timedout: (r: JobRow) => r.timedOut,
  finished: (r: JobRow) => r.done,
} as const satisfies Record<string, (r: JobRow) => boolean>;

export type PageFilter = keyof typeof PAGE_FILTERS;

/** The filters the page offers, in its order; the others are accepted from old links. */
export const SHOWN_FILTERS: readonly PageFilter[] = ["failed", "flaky", "running", "queued", "passed", "lost", "canceled", "quarantined"];
/** Offered only when some row is in them: most jobs have none. */
export const RARE_FILTERS: ReadonlySet<PageFilter> = new Set(["canceled", "quarantined"]);

/** The header's counts: the rows, and how many each shown filter picks. */
export type RowCounts = Record<PageFilter | "total", number>;

export function countRows(rows: readonly JobRow[]): RowCounts {
  const counts = { total: rows.length } as RowCounts;
  for (const name of Object.keys(PAGE_FILTERS) as PageFilter[]) counts[name] = 0;
  for (const row of rows) for (const name of Object.keys(PAGE_FILTERS) as PageFilter[]) if (PAGE_FILTERS[name](row)) counts[name]++;
  return counts;
}

export type SortKey = "state" | "name" | "duration" | "index";
export const SORT_KEYS: readonly SortKey[] = ["state", "name", "duration", "index"];
/** Each key's natural order: what needs a reader first, A to Z, longest first, as submitted. */
export const DEFAULT_ORDER: Record<SortKey, "asc" | "desc"> = { state: "asc", name: "asc", duration: "desc", index: "asc" };

/** Rows per page: a 10,000-task job's page stays well under a megabyte, and the failures come first. */
export const PAGE_ROWS = 100;

export interface RowQuery {
  filter: PageFilter | null;
  sort: SortKey;
  order: "asc" | "desc";
  /** From 1. */
  page: number;
}

export const DEFAULT_QUERY: RowQuery = { filter: null, sort: "state", order: "asc", page: 1 };

/** The query from a request's parameters; a bad value is a 400 naming it and what it may be. */
export function parseRowQuery(params: ReadonlyMap<string, string>): RowQuery {
  const pick = <T extends string>(name: string, allowed: readonly T[]): T | undefined => {
    const value = params.get(name);
    if (value === undefined || value === "") return undefined;
    if (!(allowed as readonly string[]).includes(value)) throw new DtError("invalid_input", `Unknown ${name} ${JSON.stringify(value.slice(0, 40))}: use one of ${allowed.join(", ")}`);
    return value as T;
  };
  const filter = pick("status", Object.keys(PAGE_FILTERS) as PageFilter[]) ?? null;
  const sort = pick("sort", SORT_KEYS) ?? DEFAULT_QUERY.sort;
  const order = pick("order", ["asc", "desc"] as const) ?? DEFAULT_ORDER[sort];
  const pageText = params.get("page");
  let page = 1;
  if (pageText !== undefined && pageText !== "") {
    page = Number(pageText);
    if (!/^\d{1,9}$/.test(pageText) || page < 1) throw new DtError("invalid_input", `page must be a whole number from 1, got ${JSON.stringify(pageText.slice(0, 40))}`);
  }
  return { filter, sort, order, page };
}

/** The query as a page link's parameters, leaving out what is the default. */
export function queryParams(q: RowQuery): Record<string, string> {
  const out: Record<string, string> = {};
  if (q.filter) out.status = q.filter;
  if (q.sort !== DEFAULT_QUERY.sort) out.sort = q.sort;
  if (q.order !== DEFAULT_ORDER[q.sort]) out.order = q.order;
  if (q.page !== 1) out.page = String(q.page);
  return out;
}

const byName = (a: JobRow, b: JobRow) => (a.name < b.name ? -1 : a.name > b.name ? 1 : a.indexes[0]! - b.indexes[0]!);

/** The rows the query picks, sorted (ties by name, then as submitted), and the slice its page shows. */
export function pickRows(rows: readonly JobRow[], q: RowQuery, now: number): { matching: number; pages: number; shown: JobRow[] } {
  const kept = q.filter ? rows.filter(PAGE_FILTERS[q.filter]) : [...rows];
  const sign = q.order === "asc" ? 1 : -1;
  if (q.sort === "state") kept.sort((a, b) => sign * (stateRank(a.state) - stateRank(b.state)) || byName(a, b));
  else if (q.sort === "name") kept.sort((a, b) => sign * byName(a, b));
  else if (q.sort === "index") kept.sort((a, b) => sign * (a.indexes[0]! - b.indexes[0]!));
  else {
    // Rows that never ran sort last either way: "no time" is not a short time.
    const ms = new Map(kept.map((r) => [r, rowDurationMs(r, now)]));
    kept.sort((a, b) => {
      const x = ms.get(a)!, y = ms.get(b)!;
      if (x === null || y === null) return x === y ? byName(a, b) : x === null ? 1 : -1;
      return sign * (x - y) || byName(a, b);
    });
  }
  const pages = Math.max(1, Math.ceil(kept.length / PAGE_ROWS));
  return { matching: kept.length, pages, shown: kept.slice((q.page - 1) * PAGE_ROWS, q.page * PAGE_ROWS) };
}

/** The word for a row's state, with the states a sharded row merged. */
export const STATE_WORDS: Record<RowState, string> = {
  failed: "failed", canceled: "canceled", flaky: "flaky", retrying: "failed, retrying", running: "running", queued: "queued", quarantined: "failed, quarantined", passed: "passed",
};
