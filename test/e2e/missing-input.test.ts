/**
 * A separate CAS (`dt master --isolate-server`), which the master cannot
 * check at submit: on real master and slave processes, a manifest or blob
 * the CAS answers 404 for fails the task, naming the CAS, and is not the
 * slave's health problem; a CAS that fails (503) still is.
 */
import { afterEach, beforeEach, expect, test } from "bun:test";
import { join } from "node:path";
import { CasClient } from "../../src/isolate/cas/client.ts";
import { digestOfBytes } from "../../src/isolate/digest.ts";
import type { SlaveView } from "../../src/master/protocol.ts";
import { type TestCas, startCas } from "../helpers/cas.ts";
import { TempDirs } from "../helpers/temp.ts";
import { shellScript } from "../helpers/tree.ts";
import { E2E_TEST_TIMEOUT_MS, pollUntil, useCluster } from "./cluster.ts";

const temps = new TempDirs();
let cas: TestCas;
beforeEach(async () => {
  cas = await startCas(join(await temps.make("dt-e2e-cas-"), "cas"));
});
afterEach(async () => {
  await cas.stop();
  await temps.cleanup();
});
const setup = useCluster("dt-e2e-missing-", { masterArgs: () => ["--isolate-server", cas.url], casUrl: () => cas.url });

/** A manifest naming one file whose blob was never uploaded. */
async function manifestWithoutItsBlob(): Promise<{ manifest: string; blob: string }> {
  const blob = digestOfBytes("never uploaded");
  const bytes = new TextEncoder().encode(JSON.stringify({ algo: "sha-256", command: ["./t"], files: { t: { h: blob.hash, s: blob.size, m: 0o755 } }, version: "1.4" }));
  const digest = digestOfBytes(bytes);
  await new CasClient(cas.url).putBlob(digest, bytes);
  return { manifest: digest.hash, blob: blob.hash };
}

test("a manifest or blob not in the separate CAS fails its task, naming the CAS; the slave stays healthy and runs the next job", async () => {
  const c = await setup();
  await c.startMaster();
  // One infrastructure failure would quarantine it: none may be counted here.
  await c.startSlave("s1", 1, ["--max-infra-failures", "1", "--quarantine-cooldown", "0"]);
  const absent = "0123456789abcdef".repeat(4);
  const { manifest, blob } = await manifestWithoutItsBlob();
  const jobId = await c.submitNoWait([{ isolate_hash: absent, description: "no manifest" }, { isolate_hash: manifest, description: "no blob" }]);
  const summary = await c.api.waitFinished(jobId);
  expect(summary.counts).toMatchObject({ failed: 2, succeeded: 0 });
  const attempts = Object.fromEntries((await c.api.tasks(jobId)).map((t) => [t.description, t.attempts.map((a) => [a.state, a.message])]));
  expect(attempts["no manifest"]).toEqual([["FAILED", `manifest ${absent} not found in ${cas.url}; did you run dt archive against ${cas.url}?`]]);
  expect(attempts["no blob"]).toHaveLength(1);
  expect(attempts["no blob"]![0]![0]).toBe("FAILED");
  expect(attempts["no blob"]![0]![1]).toContain(`not found in ${cas.url}; archive the tree again`);
  expect(attempts["no blob"]![0]![1]).toContain(blob);

  const view = await c.api.get<SlaveView>("/api/v1/slaves/s1");
  expect(view).toMatchObject({ state: "idle", hold: null, infra_failures: [] });
  const good = await c.submitNoWait([{ isolate_hash: await c.archive({ "t.sh": shellScript("true") }, ["./t.sh"]), description: "good" }]);
  expect((await c.api.waitFinished(good)).counts.succeeded).toBe(1);
}, E2E_TEST_TIMEOUT_MS);

test("a CAS answering 503 is still an infrastructure failure: it counts toward the slave's quarantine", async () => {
  const c = await setup();
  await c.startMaster();
  await c.startSlave("s1", 1, ["--max-infra-failures", "1", "--quarantine-cooldown", "0"]);
  const hash = await c.archive({ "t.sh": shellScript("true") }, ["./t.sh"]);
  cas.failWith(503);
  const jobId = await c.submitNoWait([{ isolate_hash: hash, description: "cas down" }]);
  let view: SlaveView | undefined;
  await pollUntil(async () => (view = await c.api.get<SlaveView>("/api/v1/slaves/s1")).state === "quarantined", "s1 to quarantine itself", 30_000);
  expect(view!.hold!.reason).toStartWith("1 infrastructure failures in a row; the last: ");
  expect(view!.hold!.reason).toContain("503");
  const first = (await c.api.tasks(jobId))[0]!.attempts[0]!;
  expect(first.state).toBe("INFRA_FAILED");
  expect(first.message).toContain(hash);
}, E2E_TEST_TIMEOUT_MS);
