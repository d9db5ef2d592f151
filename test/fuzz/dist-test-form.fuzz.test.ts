import { expect, test } from "bun:test";
import { seededRandom } from "../helpers/prng.ts";
import { VICTIM_HASH, VICTIM_JOB_ID, formRequests } from "./form-requests.ts";
import { fuzzSettings } from "./harness.ts";
import { REQUEST_TIMEOUT_MS, fuzzHttp, startFuzzMaster, submitSentinel } from "./http.ts";

const settings = fuzzSettings("dist_test form API", 0xd157);

test("fuzz: dist_test's form API on a real master answers mutated queries, urlencoded and multipart bodies with 2xx or dt's 4xx, and stored jobs stay intact", async () => {
  const master = await startFuzzMaster();
  try {
    const sentinel = await submitSentinel(master.url);
    // The job the seeds cancel and retry in, submitted as dist_test's client does.
    const victim = await fetch(`${master.url}/submit_job`, {
      method: "POST",
      headers: { "Content-Type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ job_id: VICTIM_JOB_ID, job_json: JSON.stringify({ tasks: [{ isolate_hash: VICTIM_HASH, description: "victim", max_retries: 1 }] }) }),
    });
    expect(victim.status).toBe(200);
    const report = await fuzzHttp(master, settings, formRequests(seededRandom(settings.seed)));
    expect(report.statuses[200] ?? 0).toBeGreaterThan(0);
    expect(report.statuses[400] ?? 0).toBeGreaterThan(0);
    await sentinel.expectIntact();
  } finally {
    await master.stop();
  }
}, settings.budgetMs + REQUEST_TIMEOUT_MS + 30_000);
