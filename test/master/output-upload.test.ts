/**
 * PUT /api/v1/slave/output, the slaves' uploads into the artifact store:
 * the declared length reaches the store, a malformed one is refused, and
 * an S3 store that is down answers 503 with dt's JSON error (which the
 * slave retries) instead of hanging or failing with a 500.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ManualClock, systemClock } from "../../src/common/clock.ts";
import { createLogger } from "../../src/common/log.ts";
import type { ArtifactStore } from "../../src/master/artifacts/artifact-store.ts";
import { FsArtifactStore } from "../../src/master/artifacts/fs-artifact-store.ts";
import { LiveLogs } from "../../src/master/artifacts/live-logs.ts";
import { S3ArtifactStore } from "../../src/master/artifacts/s3-artifact-store.ts";
import { masterApp } from "../../src/master/http/app.ts";
import { Master } from "../../src/master/master.ts";
import { SqliteRepo } from "../../src/master/repo/sqlite.ts";
import { PrivateS3, createBucket, testS3Client } from "../helpers/s3.ts";

const dir = mkdtempSync(join(tmpdir(), "dt-output-"));
let s3: PrivateS3;
let downStore: ArtifactStore;
let upStore: ArtifactStore;

beforeAll(async () => {
  s3 = await PrivateS3.start();
  const admin = await testS3Client(s3.endpoint);
  const bucket = await createBucket(admin, "dt-output");
  admin.destroy();
  upStore = await S3ArtifactStore.open(await testS3Client(s3.endpoint), { bucket, prefix: "up" }, systemClock);
  // A store opened while S3 ran; S3 then goes away, as mid-job.
  downStore = await S3ArtifactStore.open(await testS3Client(s3.endpoint), { bucket, prefix: "down" }, systemClock);
});
afterAll(async () => {
  await upStore?.close();
  await downStore?.close();
  await s3?.destroy();
  rmSync(dir, { recursive: true, force: true });
});

/** A master on `artifacts` holding one leased task; returns its app and the lease id. */
async function leasedTask(artifacts: ArtifactStore) {
  const clock = new ManualClock();
  const repo = await SqliteRepo.open(":memory:", { clock });
  const log = createLogger({ level: "silent" });
  const master = new Master({
    repo, artifacts, liveLogs: new LiveLogs(join(dir, crypto.randomUUID())), clock, log, newId: () => crypto.randomUUID(), publicUrl: "http://dt.test",
    dispatch: { leaseTtlMs: 30_000, heartbeatIntervalMs: 5_000, noResourceTimeoutMs: 600_000, isolateServer: "http://dt.test", maxWaitMs: 0, maxInfraRequeues: 3 },
  });
  await master.dispatcher.rebuild();
  await master.submitJob({ job_id: "u.1700000000.1", tasks: [{ isolate_hash: "a".repeat(64), description: "t" }] });
  const [lease] = await master.dispatcher.lease({ slave: { name: "s1", slots: 1, dimensions: {}, version: "test" }, free: 1, wait_ms: 0 }, new AbortController().signal);
  const app = masterApp({ master, log });
  const put = (kind: string, body: string | ReadableStream<Uint8Array>, headers: Record<string, string> = {}) =>
    app.request(`/api/v1/slave/output?lease=${lease!.lease_id}&kind=${kind}`, { method: "PUT", body, headers, duplex: "half" } as RequestInit);
  return {
    put,
    get: (path: string) => app.request(path),
    close: async () => {
      master.dispatcher.close();
      await repo.close();
    },
  };
}

test("an upload stores the body under the attempt's key, read back through the master", async () => {
  const t = await leasedTask(new FsArtifactStore(join(dir, "fs")));
  const res = await t.put("stdout", "hello\n", { "content-length": "6" });
  expect(res.status).toBe(200);
  expect(await res.json()).toEqual({ key: `u.1700000000.1.${"a".repeat(64)}.0.0.stdout` });
  await t.close();
});

test("an upload to S3 streams with its Content-Length; without one it is refused with a 400 saying to send it", async () => {
  const t = await leasedTask(upStore);
  expect((await t.put("stdout", new Blob(["streamed\n"]).stream(), { "content-length": "9" })).status).toBe(200);
  expect(await new Response((await upStore.get(`u.1700000000.1.${"a".repeat(64)}.0.0.stdout`))!.body).text()).toBe("streamed\n");
  const refused = await t.put("stderr", new Blob(["no length"]).stream());
  expect(refused.status).toBe(400);
  expect(await refused.json()).toMatchObject({ code: "invalid_input", error: expect.stringContaining("send Content-Length") });
  await t.close();
});

test("a Content-Length that is not a byte count is refused with a 400 naming it", async () => {
  const t = await leasedTask(new FsArtifactStore(join(dir, "fs")));
  const res = await t.put("stdout", "x", { "content-length": "lots" });
  expect(res.status).toBe(400);
  expect(await res.json()).toMatchObject({ code: "invalid_input", error: 'Content-Length "lots" is not a byte count' });
  await t.close();
});

test("with S3 down, an upload and a read answer 503 with dt's JSON naming the S3 object, at once", async () => {
  await s3.stop();
  try {
    const t = await leasedTask(downStore);
    const started = performance.now();
    const res = await t.put("artifacts", new Blob(["PK zip"]).stream(), { "content-length": "6" });
    expect(res.status).toBe(503);
    const body = (await res.json()) as { code: string; error: string };
    expect(body.code).toBe("unreachable");
    expect(body.error).toContain("-artifacts.zip");
    expect(body.error).toContain("check that the S3 endpoint is reachable");
    // Bounded by the connection timeout and the SDK's few retries, not a socket that waits for ever.
    expect(performance.now() - started).toBeLessThan(10_000);
    const read = await t.get("/api/v1/artifacts/u.1700000000.1.x.0.0.stdout");
    expect(read.status).toBe(503);
    expect(await read.json()).toMatchObject({ code: "unreachable", error: expect.stringContaining("s3://") });
    await t.close();
  } finally {
    await s3.restart();
  }
});
