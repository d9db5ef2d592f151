import { expect, test } from "bun:test";
import { seededRandom } from "../helpers/prng.ts";
import { fuzzSettings } from "./harness.ts";
import { REQUEST_TIMEOUT_MS, SENTINEL_JOB_ID, fuzzHttp, startFuzzMaster, submitSentinel } from "./http.ts";
import { JOB_SEEDS, jobBodies } from "./job-json.target.ts";
import { pick } from "./mutate.ts";

const settings = fuzzSettings("POST /api/v1/jobs", 0x70b5);

/** What clients send as the body's type; the native API reads JSON whatever it says. */
const CONTENT_TYPES = ["application/json", "application/json; charset=utf-8", "text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", ""];

test("fuzz: POST /api/v1/jobs on a real master answers mutated job JSON with 2xx or dt's 4xx, and stored jobs stay intact", async () => {
  const master = await startFuzzMaster();
  try {
    const sentinel = await submitSentinel(master.url);
    const random = seededRandom(settings.seed);
    // A request for the sentinel's id must be refused as a duplicate, never replace it.
    const bodies = jobBodies(random, [...JOB_SEEDS, { job_id: SENTINEL_JOB_ID, tasks: [{ isolate_hash: "7".repeat(64), description: "usurper" }] }]);
    const report = await fuzzHttp(master, settings, () => {
      const type = pick(random, CONTENT_TYPES);
      const headers: Record<string, string> = type ? { "Content-Type": type } : {};
      return { method: "POST", path: "/api/v1/jobs", headers, body: bodies() };
    });
    expect(report.statuses[201] ?? 0).toBeGreaterThan(0);
    expect(report.statuses[400] ?? 0).toBeGreaterThan(0);
    await sentinel.expectIntact();
  } finally {
    await master.stop();
  }
}, settings.budgetMs + REQUEST_TIMEOUT_MS + 30_000);
