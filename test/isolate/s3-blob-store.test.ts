/**
 * S3BlobStore against a real S3-compatible server (DT_TEST_S3_ENDPOINT,
 * e.g. s3rver from scripts/services/s3rver.sh): the BlobStore conformance
 * suite, plus what is S3's own: temporary objects, recency metadata.
 */
import { describe, expect, test } from "bun:test";
import { HeadObjectCommand, ListObjectsV2Command } from "@aws-sdk/client-s3";
import { ManualClock } from "../../src/common/clock.ts";
import { S3BlobStore } from "../../src/isolate/cas/s3-blob-store.ts";
import { digestOfBytes } from "../../src/isolate/digest.ts";
import { TEST_S3_ENDPOINT, createBucket, deleteBucket, testS3Client, useTestBucket, warnIfNoS3 } from "../helpers/s3.ts";
import { blobStoreConformance } from "./blob-store.conformance.ts";

const DAY_MS = 24 * 3_600_000;
warnIfNoS3("test/isolate/s3-blob-store.test.ts (S3BlobStore)");

describe.skipIf(!TEST_S3_ENDPOINT)("S3BlobStore", () => {
  const endpoint = TEST_S3_ENDPOINT!;
  const bucket = useTestBucket(endpoint, "dt-blobs");
  let prefixes = 0;
  const open = async (clock: ManualClock, prefix = `store-${prefixes++}`) =>
    S3BlobStore.open({ s3: await testS3Client(endpoint), location: { bucket: bucket.name, prefix }, clock });

  blobStoreConformance({
    name: "s3",
    // S3's LastModified is real time: start the virtual clock there.
    makeClock: () => new ManualClock(Date.now()),
    noTrim: "S3 blobs are evicted by a bucket lifecycle rule; S3BlobStore.trim evicts nothing",
    async open(clock) {
      const prefix = `conformance-${prefixes++}`;
      return {
        store: await open(clock, prefix),
        reopen: () => open(clock, prefix),
        cleanup: async () => {},
      };
    },
    // A bucket of its own, deleted once the store has opened on it.
    async openLost(clock) {
      const lostBucket = await createBucket(bucket.admin, "dt-blobs-lost");
      const store = await S3BlobStore.open({ s3: await testS3Client(endpoint), location: { bucket: lostBucket, prefix: "p" }, clock });
      await deleteBucket(bucket.admin, lostBucket);
      return { store, where: lostBucket, cleanup: async () => {} };
    },
  });

  const headOf = (key: string) => bucket.admin.send(new HeadObjectCommand({ Bucket: bucket.name, Key: key }));

  test("a streamed blob is stored byte for byte at <prefix>/blobs/<hash>, and no temporary object is left", async () => {
    const store = await open(new ManualClock(Date.now()), "layout");
    const data = new Uint8Array(3 * 2 ** 20).map((_, i) => (i * 7) % 251);
    const d = digestOfBytes(data);
    await store.put(d, new Blob([data.subarray(0, 1_000_000), data.subarray(1_000_000)]).stream());
    expect((await headOf(`layout/blobs/${d.hash}`)).ContentLength).toBe(data.byteLength);
    const read = await store.get(d.hash);
    expect(new Uint8Array(await new Response(read!.body).arrayBuffer())).toEqual(data);
    const bad = digestOfBytes("right");
    expect((await store.put(bad, new Blob(["wrong"]).stream()).catch((e) => e)).code).toBe("digest_mismatch");
    const listed = await bucket.admin.send(new ListObjectsV2Command({ Bucket: bucket.name, Prefix: "layout/" }));
    expect(listed.Contents?.map((o) => o.Key)).toEqual([`layout/blobs/${d.hash}`]);
    await store.close();
  });

  test("a presence check records a use only when the recorded one is over a day old", async () => {
    const clock = new ManualClock(Date.now());
    const store = await open(clock);
    const d = digestOfBytes("recency");
    await store.put(d, new TextEncoder().encode("recency"));
    const key = `store-${prefixes - 1}/blobs/${d.hash}`;
    const written = Number((await headOf(key)).Metadata?.["dt-last-use"]);
    expect(written).toBe(clock.now());
    clock.advance(DAY_MS - 60_000);
    expect(await store.findMissing([d])).toEqual([]);
    await store.close(); // waits for any refresh in flight
    expect(Number((await headOf(key)).Metadata?.["dt-last-use"])).toBe(written);

    const again = await open(clock, `store-${prefixes - 1}`);
    clock.advance(2 * 60_000);
    expect(await again.findMissing([d])).toEqual([]);
    await again.close();
    expect(Number((await headOf(key)).Metadata?.["dt-last-use"])).toBe(clock.now());
  });

  test("a missing bucket is named at open", async () => {
    const err = await S3BlobStore.open({ s3: await testS3Client(endpoint), location: { bucket: "dt-no-such-bucket-here", prefix: "x" }, clock: new ManualClock() }).catch((e) => e);
    expect(err.code).toBe("invalid_input");
    expect(err.message).toContain("dt-no-such-bucket-here does not exist");
  });
});
