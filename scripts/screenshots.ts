/**
 * `bun run screenshots [DIR]`: starts a real master and slave, runs the
 * browser tests' sample job (a passing and a failing task), and writes a
 * full-page PNG of each page (index, job, log, trace, slaves) into DIR
 * (default screenshots/, ignored by git), for reviewers. Needs a chromium
 * (DT_TEST_CHROMIUM or `chromium` on the PATH). Not run in CI.
 */
import { mkdirSync } from "node:fs";
import { join, resolve } from "node:path";
import { TestBrowser, chromiumMissing } from "../test/browser/browser.ts";
import { startSampleJob } from "../test/browser/sample-job.ts";

const missing = chromiumMissing();
if (missing) {
  console.error(`screenshots: ${missing}`);
  process.exit(1);
}
const dir = resolve(process.argv[2] ?? join(import.meta.dir, "..", "screenshots"));
mkdirSync(dir, { recursive: true });

const sample = await startSampleJob();
const browser = await TestBrowser.launch().catch(async (error) => {
  await sample.close();
  throw error;
});
let problems = 0;
try {
  for (const [name, url] of Object.entries(sample.pages)) {
    const visit = await browser.visit(url);
    const file = join(dir, `${name}.png`);
    await visit.page.screenshot({ path: file, fullPage: true });
    // Written either way: a reviewer wants to see the broken page too.
    for (const problem of visit.problems()) console.error(`${name}: ${problem}`);
    problems += visit.problems().length;
    await visit.close();
    console.log(`${file}  ${url}`);
  }
} finally {
  await browser.close();
  await sample.close();
}
console.log(`screenshots of job ${sample.jobId} in ${dir}${problems ? ` (${problems} page problems above)` : ""}`);
process.exit(problems ? 1 : 0);
