/**
 * What the browser tests read off a loaded dt page: where the window is
 * scrolled, whether an element is in view, whether the page was reloaded,
 * the log viewer's lines, and the redesigned job page's DOM contract (issue
 * 16): its rows, header counts, filter counts and nested attempts. Readers
 * only: the tests make the assertions.
 *
 * @example
 *   await markWindow(page); … ; expect(await stillMarked(page)).toBe(true); // not reloaded meanwhile
 *   expect(await inView(page, "#L60")).toBe(true);
 */
import type { Page } from "playwright-core";

/**
 * The page's globals the functions run in the browser use. The project's
 * tsconfig has no DOM library (its code runs on Bun, and the DOM's fetch and
 * Response would blur Bun's); declared here, for this module only.
 */
interface PageElement {
  open?: boolean;
  textContent: string | null;
  getAttribute(name: string): string | null;
  hasAttribute(name: string): boolean;
}
declare const window: { scrollY: number; innerHeight: number };
declare const document: { body: { scrollHeight: number }; querySelector(selector: string): PageElement | null; querySelectorAll(selector: string): { length: number } };
declare const CSS: { escape(text: string): string };

/** Marks the page's window object; stillMarked later says whether the page was reloaded (or left) in between. */
export async function markWindow(page: Page): Promise<void> {
  await page.evaluate(() => Object.assign(window, { dtNotReloaded: true }));
}

export function stillMarked(page: Page): Promise<boolean> {
  return page.evaluate(() => (window as unknown as { dtNotReloaded?: boolean }).dtNotReloaded === true);
}

/** Whether the window is scrolled down at all, and whether its bottom is at the page's end (the follow script's 40 px of slack). */
export function atEnd(page: Page): Promise<{ scrolled: boolean; atEnd: boolean }> {
  return page.evaluate(() => ({ scrolled: window.scrollY > 0, atEnd: window.innerHeight + window.scrollY >= document.body.scrollHeight - 40 }));
}

/** True when the element's box lies wholly inside the window's visible part. */
export function inView(page: Page, selector: string): Promise<boolean> {
  return page.locator(selector).evaluate((el) => {
    const box = el.getBoundingClientRect();
    return box.height > 0 && box.top >= 0 && box.bottom <= window.innerHeight;
  });
}

/** The log viewer's lines now (`#log > span`, one per line). */
export function logLines(page: Page): Promise<number> {
  return page.locator("#log > span").count();
}

/** Waits, without touching the page, until the log viewer shows at least `count` lines; fails past `timeoutMs`. */
export async function waitLogLines(page: Page, count: number, timeoutMs: number): Promise<void> {
  await page.waitForFunction((n) => document.querySelectorAll("#log > span").length >= n, count, { timeout: timeoutMs });
}

/** One task row of the job page: `tr.task` with its `data-name`, `data-state` and (a sharded binary) `data-shards`. */
export interface JobRow {
  name: string;
  state: string;
  shards: string | null;
}

export const TASK_ROWS = "table#tasks tbody tr.task";

/** The job page's task rows, in the page's order. */
export function jobRows(page: Page): Promise<JobRow[]> {
  return page.$$eval(TASK_ROWS, (trs) => trs.map((tr) => ({ name: tr.getAttribute("data-name") ?? "", state: tr.getAttribute("data-state") ?? "", shards: tr.getAttribute("data-shards") })));
}

/** "1,234" → 1234: a count as the page prints it. NaN for what is not a number, which no expected count equals. */
const number = (text: string | null) => Number((text ?? "").replace(/[,\s]/g, "") || Number.NaN);

/** The header's counts, `#job-counts [data-count=NAME]` → the number its text says. */
export async function headerCounts(page: Page): Promise<Record<string, number>> {
  const pairs = await page.$$eval("#job-counts [data-count]", (els) => els.map((e) => [e.getAttribute("data-count") ?? "", e.textContent] as const));
  return Object.fromEntries(pairs.map(([name, text]) => [name, number(text)]));
}

/** The filters' counts, `#filters [data-filter=NAME]` → its `data-count`. */
export async function filterCounts(page: Page): Promise<Record<string, number>> {
  const pairs = await page.$$eval("#filters [data-filter]", (els) => els.map((e) => [e.getAttribute("data-filter") ?? "", e.getAttribute("data-count")] as const));
  return Object.fromEntries(pairs.map(([name, count]) => [name, number(count)]));
}

/** The row of the task (or sharded binary) `name`. */
export function taskRow(page: Page, name: string) {
  return page.locator(`${TASK_ROWS}[data-name="${name}"]`);
}

/** The attempts nested in a row's `details[data-key]`: each `tr.attempt`'s `data-state`, and whether it has class `lost`. */
export function attemptStates(page: Page, name: string): Promise<(readonly [string | null, boolean])[]> {
  return taskRow(page, name)
    .locator("details[data-key] tr.attempt")
    .evaluateAll((trs) => trs.map((tr) => [tr.getAttribute("data-state"), tr.classList.contains("lost")] as const));
}

/** Whether the `details` with this `data-key` is open; a message instead when the page has none (a locator would wait out its timeout). */
export function detailsOpen(page: Page, key: string): Promise<boolean | string> {
  return page.evaluate((k) => document.querySelector(`details[data-key="${CSS.escape(k)}"]`)?.open ?? `no details[data-key="${k}"] any more`, key);
}

/**
 * Waits, without a reload, until the row `name` reads `state` and the live
 * region has stopped: `#job-live` lost its `data-live-src`, or
 * `#live-status` says the job finished (live-script.ts's words).
 */
export async function waitRowAndLiveEnd(page: Page, name: string, state: string, timeoutMs: number): Promise<void> {
  await page.waitForFunction(
    ([rowSelector, wanted]) => {
      const row = document.querySelector(rowSelector);
      const region = document.querySelector("#job-live");
      const status = document.querySelector("#live-status")?.textContent ?? "";
      return row?.getAttribute("data-state") === wanted && (!region?.hasAttribute("data-live-src") || /finished/i.test(status));
    },
    [`${TASK_ROWS}[data-name="${name}"]`, state] as const,
    { timeout: timeoutMs },
  );
}
