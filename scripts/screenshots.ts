/**
 * `bun run screenshots [DIR]`: starts real masters and slaves and writes a
 * full-page PNG of each page into DIR (default screenshots/, ignored by
 * git), for reviewers: the browser tests' sample job (a passing and a
 * failing task: index, job, log, trace, slaves), then their scenario job (a
 * failed, a flaky, a sharded, a lost and a chatty task; scenario-*.png)
 * while its chatty task runs and again once the job finished. Needs a
 * chromium (DT_TEST_CHROMIUM or `chromium` on the PATH); the scenario's
 * sharded task runs dt's sample gtest binary when DT_TEST_GTEST_BIN names
 * it. Not run in CI.
 */
import { mkdirSync } from "node:fs";
import { join, resolve } from "node:path";
import { TestBrowser, chromiumMissing } from "../test/browser/browser.ts";
import { startSampleJob } from "../test/browser/sample-job.ts";
import { startScenarioJob } from "../test/browser/scenario-job.ts";

const missing = chromiumMissing();
if (missing) {
  console.error(`screenshots: ${missing}`);
  process.exit(1);
}
const dir = resolve(process.argv[2] ?? join(import.meta.dir, "..", "screenshots"));
mkdirSync(dir, { recursive: true });

const browser = await TestBrowser.launch();
let problems = 0;

/** One full-page PNG, written even when the page had problems: a reviewer wants to see the broken page too. */
async function shoot(name: string, url: string): Promise<void> {
  const visit = await browser.visit(url);
  const file = join(dir, `${name}.png`);
  await visit.page.screenshot({ path: file, fullPage: true });
  for (const problem of visit.problems()) console.error(`${name}: ${problem}`);
  problems += visit.problems().length;
  await visit.close();
  console.log(`${file}  ${url}`);
}

try {
  const sample = await startSampleJob();
  try {
    for (const [name, url] of Object.entries(sample.pages)) await shoot(name, url);
    console.log(`sample job ${sample.jobId}`);
  } finally {
    await sample.close();
  }

  const scenario = await startScenarioJob();
  try {
    if (scenario.gtestFallback) console.warn(`scenario: the sharded task runs a shell stand-in: ${scenario.gtestFallback}`);
    const { pages } = scenario;
    await shoot("scenario-job-running", pages.job);
    await shoot("scenario-log-live", pages.chattyLog);
    await shoot("scenario-log-failed", pages.failedLog);
    await shoot("scenario-trace-running", pages.trace);
    await shoot("scenario-index", pages.index);
    await shoot("scenario-slaves", pages.slaves);
    scenario.finishChatty();
    await scenario.waitFinished();
    await shoot("scenario-job-finished", pages.job);
    await shoot("scenario-trace-finished", pages.trace);
    console.log(`scenario job ${scenario.jobId}`);
  } finally {
    await scenario.close();
  }
} finally {
  await browser.close();
}
console.log(`screenshots in ${dir}${problems ? ` (${problems} page problems above)` : ""}`);
process.exit(problems ? 1 : 0);
