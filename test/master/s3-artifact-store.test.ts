/** S3ArtifactStore against a real S3-compatible server (DT_TEST_S3_ENDPOINT): the conformance suite, plus presigned links. */
import { describe, expect, test } from "bun:test";
import { HeadObjectCommand } from "@aws-sdk/client-s3";
import type { ArtifactStore } from "../../src/master/artifacts/artifact-store.ts";
import { ManualClock } from "../../src/common/clock.ts";
import { LINK_EXPIRY_SEC, LINK_REUSE_MIN_LEFT_MS, S3ArtifactStore } from "../../src/master/artifacts/s3-artifact-store.ts";
import { TEST_S3_ENDPOINT, createBucket, deleteBucket, testS3Client, useTestBucket, warnIfNoS3 } from "../helpers/s3.ts";
import { artifactStoreConformance, serveArtifacts } from "./artifact-store.conformance.ts";

warnIfNoS3("test/master/s3-artifact-store.test.ts (S3ArtifactStore)");

describe.skipIf(!TEST_S3_ENDPOINT)("S3ArtifactStore", () => {
  const endpoint = TEST_S3_ENDPOINT!;
  const bucket = useTestBucket(endpoint, "dt-artifacts");
  let prefixes = 0;
  const open = async (prefix = `store-${prefixes++}`, clock = new ManualClock(Date.now())) =>
    S3ArtifactStore.open(await testS3Client(endpoint), { bucket: bucket.name, prefix }, clock);

  artifactStoreConformance({
    name: "s3",
    async open() {
      let store: ArtifactStore | undefined;
      const server = serveArtifacts(() => store!);
      store = await open();
      return { store, masterUrl: server.url, cleanup: async () => server.stop() };
    },
    // A bucket of its own, deleted once the store has opened on it.
    async openLost() {
      const lostBucket = await createBucket(bucket.admin, "dt-artifacts-lost");
      const store = await S3ArtifactStore.open(await testS3Client(endpoint), { bucket: lostBucket, prefix: "p" }, new ManualClock(Date.now()));
      await deleteBucket(bucket.admin, lostBucket);
      return { store, where: lostBucket, cleanup: async () => {} };
    },
  });

  test("objects live at <prefix>/<key> with their content type, and links are presigned for 24 hours", async () => {
    const store = await open("layout");
    await store.put("job.t.0.stdout", new TextEncoder().encode("out"));
    await store.put("job.t.0-artifacts.zip", new Blob(["PK"]).stream(), 2);
    expect((await bucket.admin.send(new HeadObjectCommand({ Bucket: bucket.name, Key: "layout/job.t.0.stdout" }))).ContentType).toBe("text/plain; charset=utf-8");
    expect((await bucket.admin.send(new HeadObjectCommand({ Bucket: bucket.name, Key: "layout/job.t.0-artifacts.zip" }))).ContentType).toBe("application/zip");
    const link = new URL(await store.link("job.t.0.stdout"));
    expect(link.origin).toBe(new URL(endpoint).origin);
    expect(link.pathname).toBe(`/${bucket.name}/layout/job.t.0.stdout`);
    expect(link.searchParams.get("X-Amz-Expires")).toBe(String(LINK_EXPIRY_SEC));
    expect(LINK_EXPIRY_SEC).toBe(86_400);
    await store.close();
  });

  test("a link is signed once and handed out again while it has an hour left, then signed anew", async () => {
    const clock = new ManualClock(Date.now());
    const store = await open("reuse", clock);
    await store.put("job.t.0.stdout", new TextEncoder().encode("out"));
    const first = await store.link("job.t.0.stdout");
    clock.advance(LINK_EXPIRY_SEC * 1000 - LINK_REUSE_MIN_LEFT_MS);
    expect(await store.link("job.t.0.stdout")).toBe(first);
    clock.advance(1);
    const renewed = await store.link("job.t.0.stdout");
    expect(renewed).not.toBe(first);
    expect(new URL(renewed).searchParams.get("X-Amz-Date")).not.toBe(new URL(first).searchParams.get("X-Amz-Date"));
    expect(await (await fetch(first)).text()).toBe("out");
    await store.close();
  });

  test("a streamed upload without a length is refused, saying to send Content-Length", async () => {
    const store = await open();
    const err = await store.put("job.t.0.stdout", new Blob(["x"]).stream()).catch((e) => e);
    expect(err.code).toBe("invalid_input");
    expect(err.message).toContain("Content-Length");
    await store.close();
  });
});
