/**
 * A headless Chromium for the browser tests, driven by playwright-core
 * (which downloads no browser: it is pointed at the machine's own). Which
 * executable: DT_TEST_CHROMIUM, else `chromium` on the PATH (Debian's
 * package; `.ci/run` installs it and sets DT_TEST_CHROMIUM). Every page
 * opened through `visit` records its console errors, uncaught exceptions and
 * failed requests, so a test can assert there were none: the icon's too (a
 * missing `favicon.svg`, or the `/favicon.ico` Chromium asks for by itself,
 * is a console error like any other).
 *
 * @example
 *   const missing = chromiumMissing(); // a reason to skip, or undefined
 *   const browser = await TestBrowser.launch();
 *   const visit = await browser.visit("http://127.0.0.1:8080/");
 *   expect(visit.problems()).toEqual([]);
 *   await browser.close();
 */
import { accessSync, constants } from "node:fs";
import { type Browser, type Page, chromium } from "playwright-core";

/**
 * --no-sandbox: CI and this machine run as root in a container, where
 * Chromium's sandbox cannot start. --disable-dev-shm-usage: a container's
 * /dev/shm may be 64 MB, too small for the renderer (Debian's wrapper adds it
 * for small ones; the flag makes it so whichever binary runs).
 * --disable-gpu: there is none.
 */
export const CHROMIUM_ARGS = ["--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"];
/** Launching takes 0.2-0.4 s here; a loaded 2-core CI machine gets ample room. */
const LAUNCH_TIMEOUT_MS = 15_000;
/** A dt page answers in milliseconds; past this it is a hang, reported as one. */
const NAVIGATION_TIMEOUT_MS = 10_000;

/** The executable the tests would launch, or undefined when there is none. */
export function chromiumPath(): string | undefined {
  return process.env.DT_TEST_CHROMIUM || Bun.which("chromium") || undefined;
}

/** Why the browser tests cannot run, or undefined when they can. */
export function chromiumMissing(): string | undefined {
  const path = chromiumPath();
  if (!path) return "no chromium: set DT_TEST_CHROMIUM to a Chromium executable or put `chromium` on the PATH (Debian: apt-get install chromium)";
  try {
    accessSync(path, constants.X_OK);
  } catch {
    return `DT_TEST_CHROMIUM=${path} is not an executable file`;
  }
  return undefined;
}

/** One opened page and what went wrong while it loaded and ran. */
export interface PageVisit {
  page: Page;
  /** The HTTP status of the page's own document. */
  status: number;
  /** console.error messages (Chromium's own "Failed to load resource" among them) and uncaught exceptions. */
  consoleErrors: string[];
  /** Subresources that failed to load or answered 4xx/5xx: `STATUS URL` or `failed URL: reason`. */
  failedRequests: string[];
  /** consoleErrors and failedRequests together: what a test expects to be empty. */
  problems(): string[];
  /** Closes the page and its context, ending whatever it still polls or streams. */
  close(): Promise<void>;
}

export class TestBrowser {
  private constructor(private readonly browser: Browser) {}

  /** Launches headless Chromium; fails naming the executable when it cannot. */
  static async launch(executablePath = chromiumPath()): Promise<TestBrowser> {
    if (!executablePath) throw new Error(chromiumMissing());
    try {
      return new TestBrowser(await chromium.launch({ executablePath, headless: true, args: CHROMIUM_ARGS, timeout: LAUNCH_TIMEOUT_MS }));
    } catch (error) {
      throw new Error(`could not launch ${executablePath}: ${(error as Error).message}`, { cause: error });
    }
  }

  /** A fresh page (its own context: no cookies or cache shared with other visits), loaded to `load`, recording its problems. */
  async visit(url: string, viewport = { width: 1280, height: 800 }): Promise<PageVisit> {
    const context = await this.browser.newContext({ viewport });
    const page = await context.newPage();
    page.setDefaultTimeout(NAVIGATION_TIMEOUT_MS);
    const consoleErrors: string[] = [];
    const failedRequests: string[] = [];
    page.on("console", (message) => {
      if (message.type() === "error") consoleErrors.push(`${message.text()} (${message.location().url || url})`);
    });
    page.on("pageerror", (error) => consoleErrors.push(`uncaught: ${error.message}`));
    page.on("requestfailed", (request) => {
      // Closing a page while an EventSource or a long poll is open aborts it; that is the test leaving, not a fault.
      if (!page.isClosed()) failedRequests.push(`failed ${request.url()}: ${request.failure()?.errorText ?? "unknown"}`);
    });
    page.on("response", (response) => {
      if (response.status() >= 400) failedRequests.push(`${response.status()} ${response.url()}`);
    });
    const response = await page.goto(url, { waitUntil: "load" });
    if (!response) throw new Error(`${url}: no response (a same-document navigation?)`);
    return { page, status: response.status(), consoleErrors, failedRequests, problems: () => [...consoleErrors, ...failedRequests], close: () => context.close() };
  }

  /** Closes every page and the browser process. */
  async close(): Promise<void> {
    await this.browser.close();
  }
}

/** Every link on the page (`a[href]`), resolved against it, fragments dropped and each listed once: what a test fetches. */
export async function linksOn(page: Page): Promise<string[]> {
  const hrefs: string[] = await page.$$eval("a[href]", (anchors) => anchors.map((a) => a.getAttribute("href") ?? ""));
  const urls = hrefs.map((href) => new URL(href, page.url())).filter((u) => u.protocol === "http:" || u.protocol === "https:");
  for (const u of urls) u.hash = "";
  return [...new Set(urls.map((u) => u.href))];
}

/** What `pageFaults` checks beyond the load: a main heading unless `heading` is false. */
export interface PageFaultOptions {
  heading?: boolean;
}

/**
 * Everything wrong with a loaded page, as a reader would meet it: its
 * status, its console errors and failed requests so far, a missing title or
 * main heading, and each link that does not answer 200 (redirects followed:
 * a link may go through one, as a case's log link does, but must land). A
 * page must have links: a check that fetched none would pass whatever the
 * links were. Empty when the page is clean; free of bun:test, so a test
 * asserts `toEqual([])` and sees every fault at once.
 *
 * @example
 *   const visit = await browser.visit(url);
 *   expect(await pageFaults(visit)).toEqual([]);
 */
export async function pageFaults(visit: PageVisit, options: PageFaultOptions = {}): Promise<string[]> {
  const { page } = visit;
  const faults: string[] = [];
  if (visit.status !== 200) faults.push(`the page answered ${visit.status}`);
  faults.push(...visit.problems());
  if ((await page.title()).trim() === "") faults.push("no <title>");
  // count() first: a locator's innerText would wait out the navigation timeout for a heading that is not there.
  if (options.heading !== false && ((await page.locator("h1").count()) === 0 || (await page.locator("h1").first().innerText()).trim() === "")) faults.push("no <h1> with text");
  const links = await linksOn(page);
  if (links.length === 0) faults.push("no links on the page");
  const answers = await Promise.all(
    links.map(async (link) => {
      try {
        const res = await fetch(link);
        await res.arrayBuffer();
        return res.status === 200 ? null : `${res.status}${res.redirected ? ` (redirected to ${res.url})` : ""} ${link}`;
      } catch (error) {
        return `failed ${link}: ${(error as Error).message}`;
      }
    }),
  );
  faults.push(...answers.filter((a): a is string => a !== null));
  return faults;
}
