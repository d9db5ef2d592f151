/**
 * GET jobs/:job/cases reads the repo in chunks of at most CASE_PAGE.default
 * rows, whatever the page's limit, so a page of 10,000 long cases never
 * sits in memory whole; the pages still hold every case once, in order.
 * Over a stand-in repo that records each read.
 */
import { expect, test } from "bun:test";
import { CASE_PAGE, caseRoutes } from "../../src/master/http/case-api.ts";
import type { Master } from "../../src/master/master.ts";
import type { JobCasesPage } from "../../src/master/protocol.ts";
import type { JobCaseQuery } from "../../src/master/repo/repo.ts";
import type { JobCaseRow } from "../../src/master/repo/schema-sqlite.ts";

const TOTAL = 2_500;
const rows: JobCaseRow[] = Array.from({ length: TOTAL }, (_, i) => ({
  jobId: "j", caseKey: i.toString(16).padStart(32, "0"), seq: i * 2, binary: "b", suite: "S", name: `c${i}`, status: "passed",
  taskId: "t", attempt: 0, durationMs: 1, message: null, file: null, line: null, runs: 1, failures: 0, reusedFrom: null,
}));
const reads: number[] = [];
const repo = {
  listJobCases: async (_job: string, q: JobCaseQuery) => {
    reads.push(q.limit);
    return rows.filter((r) => q.afterSeq === undefined || r.seq > q.afterSeq).slice(0, q.limit);
  },
};
const app = caseRoutes({ deps: { repo }, requireJob: async () => {} } as unknown as Master);
const page = async (query: string) => (await (await app.request(`/jobs/j/cases?${query}`)).json()) as JobCasesPage;

test(`a page reads at most ${CASE_PAGE.default} + 1 rows at a time; pages across chunk boundaries hold every case once`, async () => {
  const whole = await page("limit=10000");
  expect(whole.cases.map((c) => c.name)).toEqual(rows.map((r) => r.name));
  expect(whole.next_cursor).toBeNull();
  expect(Math.max(...reads)).toBe(CASE_PAGE.default + 1);

  const first = await page("limit=1500");
  expect(first.cases).toHaveLength(1500);
  expect(first.next_cursor).toBe(String(rows[1499]!.seq));
  const second = await page(`limit=1500&cursor=${first.next_cursor}`);
  expect(second.cases.map((c) => c.name)).toEqual(rows.slice(1500).map((r) => r.name));
  expect(second.next_cursor).toBeNull();

  // Exactly the limit left: no cursor once nothing follows.
  const exact = await page(`limit=1000&cursor=${rows[1499]!.seq}`);
  expect(exact.cases).toHaveLength(1000);
  expect(exact.next_cursor).toBeNull();
});
