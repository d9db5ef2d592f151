/**
 * The submit-time manifest check against a real S3 CAS (a private s3rver)
 * that goes away or stops answering: the submit answers 503 with dt's JSON,
 * naming the task and saying the job was not stored, within the check's
 * budget; nothing of the job is stored.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ManualClock, systemClock } from "../../src/common/clock.ts";
import { createLogger } from "../../src/common/log.ts";
import { S3BlobStore } from "../../src/isolate/cas/s3-blob-store.ts";
import { digestOfBytes } from "../../src/isolate/digest.ts";
import { FsArtifactStore } from "../../src/master/artifacts/fs-artifact-store.ts";
import { LiveLogs } from "../../src/master/artifacts/live-logs.ts";
import { masterApp } from "../../src/master/http/app.ts";
import { blobStoreManifestCheck } from "../../src/master/jobs/manifest-check.ts";
import { Master } from "../../src/master/master.ts";
import { SqliteRepo } from "../../src/master/repo/sqlite.ts";
import { PrivateS3, createBucket, testS3Client } from "../helpers/s3.ts";

const dir = mkdtempSync(join(tmpdir(), "dt-manifest-s3-"));
let s3: PrivateS3;
let store: S3BlobStore;

beforeAll(async () => {
  s3 = await PrivateS3.start();
  const admin = await testS3Client(s3.endpoint);
  const bucket = await createBucket(admin, "dt-manifest");
  admin.destroy();
  store = await S3BlobStore.open({ s3: await testS3Client(s3.endpoint), location: { bucket, prefix: "cas" }, clock: systemClock });
});
afterAll(async () => {
  s3?.resume();
  await s3?.destroy();
  await store?.close().catch(() => {});
  rmSync(dir, { recursive: true, force: true });
});

/** A master whose manifest check looks in `store`, behind its HTTP routes; `budgetMs` bounds the check. */
async function masterOnS3(budgetMs: number) {
  const repo = await SqliteRepo.open(":memory:", { clock: new ManualClock() });
  const log = createLogger({ level: "silent" });
  const master = new Master({
    repo, artifacts: new FsArtifactStore(join(dir, crypto.randomUUID())), liveLogs: new LiveLogs(join(dir, crypto.randomUUID())), clock: new ManualClock(), log,
    newId: () => crypto.randomUUID(), publicUrl: "http://dt.test",
    dispatch: { leaseTtlMs: 30_000, heartbeatIntervalMs: 5_000, noResourceTimeoutMs: 600_000, isolateServer: "http://dt.test", maxWaitMs: 0, maxInfraRequeues: 3 },
    checkManifest: blobStoreManifestCheck(store, "http://dt.test"),
    manifestCheckBudgetMs: budgetMs,
  });
  await master.dispatcher.rebuild();
  const app = masterApp({ master, log });
  return {
    submit: (jobId: string, hash: string) =>
      app.request("/api/v1/jobs", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ job_id: jobId, tasks: [{ isolate_hash: hash, description: "t" }] }) }),
    get: (path: string) => app.request(path),
    close: async () => {
      master.dispatcher.close();
      await repo.close();
    },
  };
}

const manifest = new TextEncoder().encode(JSON.stringify({ algo: "sha-256", command: ["./t"], files: {}, version: "1.4" }));

test("S3 stops answering (SIGSTOP) during a submit: a 503 within the check's budget, not a hang; the job is not stored", async () => {
  const digest = digestOfBytes(manifest);
  await store.put(digest, manifest);
  const m = await masterOnS3(1_500);
  try {
    expect((await m.submit("ok.1.1", digest.hash)).status).toBe(201);
    s3.pause();
    const started = performance.now();
    const res = await m.submit("hung.1.1", digest.hash);
    const elapsed = performance.now() - started;
    s3.resume();
    expect(res.status).toBe(503);
    expect(await res.json()).toEqual({
      code: "unreachable",
      error: "tasks[0].isolate_hash (t): the CAS answered none of the job's 1 manifest looks within 1.5 s; the job was not stored: submit it again once the CAS answers",
    });
    // The budget, plus a loaded machine's slack; S3's own socket timeout (30 s) would be far past it.
    expect(elapsed).toBeLessThan(10_000);
    expect((await m.get("/api/v1/jobs/hung.1.1")).status).toBe(404);
  } finally {
    s3.resume();
    await m.close();
  }
});

test("S3 gone (SIGKILL) during a submit: a 503 naming the task, the S3 failure and that the job was not stored", async () => {
  const m = await masterOnS3(20_000);
  try {
    await s3.stop();
    const res = await m.submit("down.1.1", digestOfBytes(manifest).hash);
    expect(res.status).toBe(503);
    const body = (await res.json()) as { error: string; code: string };
    expect(body.code).toBe("unreachable");
    expect(body.error).toStartWith("tasks[0].isolate_hash (t): could not check the manifest: HEAD s3://");
    expect(body.error).toContain("check that the S3 endpoint is reachable");
    expect(body.error).toEndWith("the job was not stored: submit it again once the CAS answers");
    expect((await m.get("/api/v1/jobs/down.1.1")).status).toBe(404);
  } finally {
    await m.close();
  }
}, 60_000);
