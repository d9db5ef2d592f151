import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import type { ManualClock } from "../../src/common/clock.ts";
import { DtError } from "../../src/common/errors.ts";
import type { BlobStore } from "../../src/isolate/cas/blob-store.ts";
import { EMPTY_DIGEST, digestOfBytes } from "../../src/isolate/digest.ts";

/** How a conformance run gets a fresh, empty store on a manual clock. */
export interface StoreFactory {
  name: string;
  open(clock: ManualClock): Promise<{ store: BlobStore; reopen?: () => Promise<BlobStore>; cleanup: () => Promise<void> }>;
  makeClock(): ManualClock;
  /**
   * Why this store does not evict through `trim`, when it does not (S3
   * leaves eviction to a bucket lifecycle rule). Its trim tests are then
   * skipped with this reason in their names, so the report shows it.
   */
  noTrim?: string;
  /**
   * A store opened and then cut off from what backs it (its directory
   * removed, its bucket deleted), for the failing ping; `where` is what the
   * error must name.
   */
  openLost?(clock: ManualClock): Promise<{ store: BlobStore; where: string; cleanup: () => Promise<void> }>;
}

async function readAll(body: Blob | ReadableStream<Uint8Array>): Promise<string> {
  return body instanceof Blob ? body.text() : new Response(body).text();
}

const bytes = (s: string) => new TextEncoder().encode(s);

/**
 * The behaviour every BlobStore must have. Each implementation's test file
 * calls this once; a store that must skip a case says why beside the skip.
 */
export function blobStoreConformance(factory: StoreFactory): void {
  const trimTest = factory.noTrim ? (name: string, fn: () => Promise<void>) => test.skip(`${name} [skipped: ${factory.noTrim}]`, fn) : test;
  describe(`BlobStore conformance: ${factory.name}`, () => {
    let store: BlobStore;
    let clock: ManualClock;
    let reopen: (() => Promise<BlobStore>) | undefined;
    let cleanup: () => Promise<void>;

    beforeEach(async () => {
      clock = factory.makeClock();
      ({ store, reopen, cleanup } = await factory.open(clock));
    });
    afterEach(async () => {
      await store.close();
      await cleanup();
    });

    test("ping resolves while the store can be used", async () => {
      expect(await store.ping()).toBeUndefined();
    });

    const lostTest = factory.openLost ? test : (name: string, fn: () => Promise<void>) => test.skip(`${name} [skipped: the factory gives no openLost]`, fn);
    lostTest("ping rejects with a DtError naming the store once what backs it is gone", async () => {
      const lost = await factory.openLost!(factory.makeClock());
      try {
        const err = await lost.store.ping().then(() => null, (e: unknown) => e);
        expect(err).toBeInstanceOf(DtError);
        expect((err as DtError).message).toContain(lost.where);
      } finally {
        await lost.store.close();
        await lost.cleanup();
      }
    });

    test("put then get returns the same bytes, and findMissing stops reporting it", async () => {
      const data = bytes("hello, content-addressed world");
      const d = digestOfBytes(data);
      expect(await store.findMissing([d])).toEqual([d]);
      expect(await store.put(d, data)).toEqual({ created: true });
      expect(await store.findMissing([d])).toEqual([]);
      const read = await store.get(d.hash);
      expect(read?.size).toBe(d.size);
      expect(await readAll(read!.body)).toBe("hello, content-addressed world");
    });

    test("a streamed put is verified while streaming", async () => {
      const data = bytes("x".repeat(300_000));
      const d = digestOfBytes(data);
      const stream = new Blob([data.subarray(0, 100_000), data.subarray(100_000)]).stream();
      expect((await store.put(d, stream)).created).toBe(true);
      expect(await store.sizeOf(d.hash)).toBe(300_000);
    });

    test("content that does not match its digest is refused and leaves nothing", async () => {
      const d = digestOfBytes("the real content");
      const err = await store.put(d, bytes("something else")).catch((e) => e);
      expect(err).toBeInstanceOf(DtError);
      expect(err.code).toBe("digest_mismatch");
      expect(err.message).toContain(d.hash);
      expect(err.message).toContain(digestOfBytes("something else").hash);
      expect(await store.findMissing([d])).toEqual([d]);
      expect(await store.get(d.hash)).toBeNull();
      expect((await store.stats()).blobs).toBe(0);
    });

    test("a body longer than the declared size is refused", async () => {
      const d = { hash: digestOfBytes("abc").hash, size: 2 };
      const err = await store.put(d, bytes("abc")).catch((e) => e);
      expect(err.code).toBe("digest_mismatch");
      expect(await store.sizeOf(d.hash)).toBeNull();
    });

    test("re-uploading an existing blob reports created: false", async () => {
      const d = digestOfBytes("twice");
      await store.put(d, bytes("twice"));
      expect(await store.put(d, bytes("twice"))).toEqual({ created: false });
      expect((await store.stats()).blobs).toBe(1);
    });

    test("findMissing compares sizes too", async () => {
      const d = digestOfBytes("sized");
      await store.put(d, bytes("sized"));
      const wrongSize = { hash: d.hash, size: d.size + 1 };
      expect(await store.findMissing([d, wrongSize])).toEqual([wrongSize]);
    });

    test("the empty blob always exists", async () => {
      expect(await store.findMissing([EMPTY_DIGEST])).toEqual([]);
      const read = await store.get(EMPTY_DIGEST.hash);
      expect(read?.size).toBe(0);
      expect(await readAll(read!.body)).toBe("");
    });

    test("get with a range returns exactly those bytes", async () => {
      const d = digestOfBytes("0123456789");
      await store.put(d, bytes("0123456789"));
      const read = await store.get(d.hash, { start: 2, end: 5 });
      expect(read?.size).toBe(10);
      expect(await readAll(read!.body)).toBe("2345");
    });

    test("delete removes a blob", async () => {
      const d = digestOfBytes("gone");
      await store.put(d, bytes("gone"));
      expect(await store.delete(d.hash)).toBe(true);
      expect(await store.delete(d.hash)).toBe(false);
      expect(await store.findMissing([d])).toEqual([d]);
    });

    test("stats count blobs, bytes, hits and misses", async () => {
      const a = digestOfBytes("aaaa");
      const b = digestOfBytes("bbbbbb");
      await store.put(a, bytes("aaaa"));
      await store.put(b, bytes("bbbbbb"));
      await store.findMissing([a, digestOfBytes("absent")]);
      await store.get(b.hash);
      await store.get(digestOfBytes("also absent").hash);
      const stats = await store.stats();
      expect(stats.blobs).toBe(2);
      expect(stats.bytes).toBe(10);
      expect(stats.hits).toBe(2);
      expect(stats.misses).toBe(2);
    });

    trimTest("trim evicts least recently used first, never one younger than minAge", async () => {
      const blobs = ["old-1", "old-2", "mid-3", "new-4"].map((s) => ({ s, d: digestOfBytes(s) }));
      for (const { s, d } of blobs) {
        await store.put(d, bytes(s));
        clock.advance(10 * 60_000);
      }
      // Using old-1 makes old-2 the least recently used.
      await store.findMissing([blobs[0]!.d]);
      clock.advance(10 * 60_000);
      // 4 blobs of 5 bytes; keep at most 10 bytes, but nothing used in the last 25 minutes may go.
      const result = await store.trim({ maxBytes: 10, minAgeMs: 25 * 60_000 });
      expect(result).toEqual({ blobs: 2, bytes: 10 });
      const missing = (await store.findMissing(blobs.map((b) => b.d))).map((d) => d.hash);
      expect(missing).toEqual([blobs[1]!.d.hash, blobs[2]!.d.hash]);
      expect((await store.stats()).evictions).toBe(2);
    });

    trimTest("trim stops at minAge even when still over the limit", async () => {
      const d = digestOfBytes("young");
      await store.put(d, bytes("young"));
      expect(await store.trim({ maxBytes: 0, minAgeMs: 60_000 })).toEqual({ blobs: 0, bytes: 0 });
      clock.advance(61_000);
      expect(await store.trim({ maxBytes: 0, minAgeMs: 60_000 })).toEqual({ blobs: 1, bytes: 5 });
    });

    test("a blob checked while a trim is running is not evicted by that trim", async () => {
      const blobs = ["first", "second", "third"].map((text) => ({ text, d: digestOfBytes(text) }));
      for (const { text, d } of blobs) await store.put(d, bytes(text));
      clock.advance(2 * 3_600_000);
      const trimming = store.trim({ maxBytes: 0, minAgeMs: 3_600_000 });
      // An archive's presence check says "present" for the last one: it must still be there afterwards.
      expect(await store.findMissing([blobs[2]!.d])).toEqual([]);
      await trimming;
      expect(await store.findMissing([blobs[2]!.d])).toEqual([]);
    });

    test("blobs survive reopening the store", async () => {
      if (!reopen) return; // in-memory stores have nothing to reopen
      const d = digestOfBytes("durable");
      await store.put(d, bytes("durable"));
      await store.close();
      store = await reopen();
      expect(await store.findMissing([d])).toEqual([]);
      expect((await store.stats()).bytes).toBe(7);
    });

    test("concurrent puts of the same blob both succeed and store it once", async () => {
      const data = bytes("y".repeat(1_000_000));
      const d = digestOfBytes(data);
      const results = await Promise.all([store.put(d, new Blob([data]).stream()), store.put(d, new Blob([data]).stream())]);
      expect(results.some((r) => r.created)).toBe(true);
      expect((await store.stats()).blobs).toBe(1);
      expect(await store.sizeOf(d.hash)).toBe(1_000_000);
    });
  });
}
