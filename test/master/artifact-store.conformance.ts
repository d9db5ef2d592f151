import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { DtError } from "../../src/common/errors.ts";
import type { ArtifactStore } from "../../src/master/artifacts/artifact-store.ts";

/**
 * How a conformance run gets a fresh, empty store. `masterUrl` is a server
 * that answers GET /api/v1/artifacts/<key> from the store (as the master
 * does), so that links of every kind can be opened.
 */
export interface ArtifactStoreFactory {
  name: string;
  open(): Promise<{ store: ArtifactStore; masterUrl: string; cleanup: () => Promise<void> }>;
  /**
   * A store opened and then cut off from what backs it (its directory
   * removed, its bucket deleted), for the failing ping; `where` is what the
   * error must name.
   */
  openLost?(): Promise<{ store: ArtifactStore; where: string; cleanup: () => Promise<void> }>;
}

async function readAll(body: Blob | ReadableStream<Uint8Array>): Promise<string> {
  return body instanceof Blob ? body.text() : new Response(body).text();
}

const bytes = (s: string) => new TextEncoder().encode(s);
const KEY = "alice.1700000000.1.abc.0.0.stdout";

/** The behaviour every ArtifactStore must have; each implementation's test file calls this once. */
export function artifactStoreConformance(factory: ArtifactStoreFactory): void {
  describe(`ArtifactStore conformance: ${factory.name}`, () => {
    let store: ArtifactStore;
    let masterUrl: string;
    let cleanup: () => Promise<void>;

    beforeEach(async () => {
      ({ store, masterUrl, cleanup } = await factory.open());
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
      const lost = await factory.openLost!();
      try {
        const err = await lost.store.ping().then(() => null, (e: unknown) => e);
        expect(err).toBeInstanceOf(DtError);
        expect((err as DtError).message).toContain(lost.where);
      } finally {
        await lost.store.close();
        await lost.cleanup();
      }
    });

    test("put then get returns the bytes and the size, from bytes or from a stream", async () => {
      expect(await store.put(KEY, bytes("log line\n"))).toEqual({ size: 9 });
      const read = await store.get(KEY);
      expect(read?.size).toBe(9);
      expect(await readAll(read!.body)).toBe("log line\n");
      const data = "z".repeat(200_000);
      expect(await store.put("job.t.0-artifacts.zip", new Blob([data.slice(0, 70_000), data.slice(70_000)]).stream(), 200_000)).toEqual({ size: 200_000 });
      expect(await readAll((await store.get("job.t.0-artifacts.zip"))!.body)).toBe(data);
    });

    test("an empty object is stored and read back empty", async () => {
      expect(await store.put(KEY, new Blob([]).stream(), 0)).toEqual({ size: 0 });
      const read = await store.get(KEY);
      expect(read?.size).toBe(0);
      expect(await readAll(read!.body)).toBe("");
    });

    test("put replaces an earlier object under the same key", async () => {
      await store.put(KEY, bytes("first"));
      await store.put(KEY, new Blob(["second!"]).stream(), 7);
      expect(await readAll((await store.get(KEY))!.body)).toBe("second!");
    });

    test("a stream of another length than declared is refused", async () => {
      const short = await store.put(KEY, new Blob(["abc"]).stream(), 4).catch((e) => e);
      expect(short.code).toBe("invalid_input");
      const long = await store.put(KEY, new Blob(["abcde"]).stream(), 4).catch((e) => e);
      expect(long.code).toBe("invalid_input");
    });

    test("get of an absent or malformed key is null; put of a malformed key is refused naming it", async () => {
      expect(await store.get("job.t.0.stdout")).toBeNull();
      expect(await store.get("../etc/passwd")).toBeNull();
      const err = await store.put("../etc/passwd", bytes("x")).catch((e) => e);
      expect(err.code).toBe("invalid_input");
      expect(err.message).toContain("../etc/passwd");
    });

    test("a link opens the object", async () => {
      await store.put(KEY, bytes("linked\n"));
      const res = await fetch(await store.link(KEY, masterUrl));
      expect(res.status).toBe(200);
      expect(await res.text()).toBe("linked\n");
    });
  });
}

/** A server answering GET /api/v1/artifacts/<key> from `store`, as the master does; for links that point at the master. */
export function serveArtifacts(store: () => ArtifactStore): { url: string; stop: () => void } {
  const server = Bun.serve({
    port: 0,
    hostname: "127.0.0.1",
    async fetch(req) {
      const key = decodeURIComponent(new URL(req.url).pathname.replace("/api/v1/artifacts/", ""));
      const object = await store().get(key);
      return object ? new Response(object.body) : new Response("absent", { status: 404 });
    },
  });
  return { url: `http://127.0.0.1:${server.port}`, stop: () => server.stop(true) };
}
