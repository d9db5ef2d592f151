import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ManualClock } from "../../src/common/clock.ts";
import { createLogger } from "../../src/common/log.ts";
import { BATCH_CONTENT_TYPE, decodeBatch, encodeBatch } from "../../src/isolate/cas/batch.ts";
import { CasClient } from "../../src/isolate/cas/client.ts";
import { FsBlobStore } from "../../src/isolate/cas/fs-blob-store.ts";
import { IsolateServer } from "../../src/isolate/cas/isolate-server.ts";
import { parseRange } from "../../src/isolate/cas/server.ts";
import { type Digest, digestOfBytes } from "../../src/isolate/digest.ts";

const silent = createLogger({ level: "silent" });
const enc = (s: string) => new TextEncoder().encode(s);
const BASE = "http://cas.test/api/cas/v1";

let dir: string;
let clock: ManualClock;
let store: FsBlobStore;
let server: IsolateServer;
const request = (path: string, init?: RequestInit) => server.app.request(new Request(`${BASE}${path}`, init));
const postMissing = (body: unknown) =>
  request("/missing", { method: "POST", headers: { "Content-Type": "application/json" }, body: typeof body === "string" ? body : JSON.stringify(body) });

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "dt-cas-"));
  clock = new ManualClock();
  store = await FsBlobStore.open(dir, clock);
  server = new IsolateServer({ store, log: silent, clock, trim: { maxBytes: 1_000, minAgeMs: 60_000 } });
});
afterEach(async () => {
  await server.close();
  await rm(dir, { recursive: true, force: true });
});

describe("POST missing", () => {
  test("answers only the absent digests", async () => {
    const present = digestOfBytes("present");
    await store.put(present, enc("present"));
    const absent = digestOfBytes("absent");
    const res = await postMissing({ digests: [present, absent] });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ missing: [absent] });
  });

  test.each([
    ["not JSON", "{nope", 400, "not valid JSON"],
    ["no digests key", { hashes: [] }, 400, "digests"],
    ["digests not a list", { digests: "abc" }, 400, "digests"],
    ["a short hash", { digests: [{ hash: "abc", size: 1 }] }, 400, "digests[0].hash"],
    ["an upper-case hash", { digests: [{ hash: "A".repeat(64), size: 1 }] }, 400, "digests[0].hash"],
    ["a negative size", { digests: [{ hash: "a".repeat(64), size: -1 }] }, 400, "digests[0].size"],
    ["a string size", { digests: [{ hash: "a".repeat(64), size: "1" }] }, 400, "digests[0].size"],
    ["a null entry", { digests: [null] }, 400, "digests[0]"],
    ["null body", "null", 400, "digests"],
  ])("refuses %s with a JSON 4xx", async (_name, body, status, mention) => {
    const res = await postMissing(body);
    expect(res.status).toBe(status);
    const json = (await res.json()) as { error: string; code: string };
    expect(json.error).toContain(mention);
  });

  test("refuses more than 10,000 digests", async () => {
    const digests = Array.from({ length: 10_001 }, (_, i) => ({ hash: i.toString(16).padStart(64, "0"), size: 1 }));
    const res = await postMissing({ digests });
    expect(res.status).toBe(413);
    expect(((await res.json()) as { error: string }).error).toContain("10000");
  });

  test("refuses a body over the size limit", async () => {
    const res = await postMissing(" ".repeat(3 * 2 ** 20));
    expect(res.status).toBe(413);
  });
});

describe("PUT blobs/<hash>", () => {
  test("stores a verified blob, then re-upload is a cheap 200", async () => {
    const d = digestOfBytes("blob body");
    const first = await request(`/blobs/${d.hash}?size=${d.size}`, { method: "PUT", body: "blob body" });
    expect(first.status).toBe(201);
    const again = await request(`/blobs/${d.hash}?size=${d.size}`, { method: "PUT", body: "blob body" });
    expect(again.status).toBe(200);
    expect(((await again.json()) as { created: boolean }).created).toBe(false);
  });

  test("a mismatch is a 400 naming expected and actual digests, leaving nothing behind", async () => {
    const d = digestOfBytes("expected");
    const res = await request(`/blobs/${d.hash}?size=${"tampered".length}`, { method: "PUT", body: "tampered" });
    expect(res.status).toBe(400);
    const { error } = (await res.json()) as { error: string };
    expect(error).toContain(d.hash);
    expect(error).toContain(digestOfBytes("tampered").hash);
    expect(await store.sizeOf(d.hash)).toBeNull();
    expect(await readdir(join(dir, "tmp"))).toEqual([]);
  });

  test.each([
    ["no size", (h: string) => `/blobs/${h}`, "size"],
    ["a non-numeric size", (h: string) => `/blobs/${h}?size=ten`, "size"],
    ["a bad hash", () => "/blobs/not-a-hash?size=1", "hash"],
  ])("refuses %s", async (_name, path, mention) => {
    const res = await request(path(digestOfBytes("x").hash), { method: "PUT", body: "x" });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: string }).error).toContain(mention);
  });

  test("a declared size larger than the body is a mismatch", async () => {
    const d = digestOfBytes("short");
    const res = await request(`/blobs/${d.hash}?size=100`, { method: "PUT", body: "short" });
    expect(res.status).toBe(400);
    expect(await store.sizeOf(d.hash)).toBeNull();
  });
});

describe("POST batch", () => {
  test("stores many small blobs in one request", async () => {
    const entries = ["one", "two", "three"].map((s) => ({ digest: digestOfBytes(s), bytes: enc(s) }));
    const res = await request("/batch", { method: "POST", headers: { "Content-Type": BATCH_CONTENT_TYPE }, body: encodeBatch(entries) });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ received: 3, created: 3 });
    expect(await store.findMissing(entries.map((e) => e.digest))).toEqual([]);
  });

  test("one bad entry refuses the whole batch and stores nothing", async () => {
    const good = { digest: digestOfBytes("good"), bytes: enc("good") };
    const bad = { digest: digestOfBytes("bad!"), bytes: enc("evil") };
    const res = await request("/batch", { method: "POST", headers: { "Content-Type": BATCH_CONTENT_TYPE }, body: encodeBatch([good, bad]) });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: string }).error).toContain("entry 1");
    expect((await store.stats()).blobs).toBe(0);
  });

  test.each([
    ["a missing header", "just bytes"],
    ["a truncated entry", `${"a".repeat(64)} 100\nshort`],
    ["a bad size", `${"a".repeat(64)} x\n`],
    ["an extra field", `${"a".repeat(64)} 1 2\nx`],
  ])("refuses %s", async (_name, body) => {
    const res = await request("/batch", { method: "POST", headers: { "Content-Type": BATCH_CONTENT_TYPE }, body });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { code: string }).code).toBe("invalid_input");
  });

  test("refuses the wrong content type", async () => {
    const res = await request("/batch", { method: "POST", headers: { "Content-Type": "text/plain" }, body: "" });
    expect(res.status).toBe(400);
  });
});

describe("POST batch-read", () => {
  const postRead = (body: unknown) =>
    request("/batch-read", { method: "POST", headers: { "Content-Type": "application/json" }, body: typeof body === "string" ? body : JSON.stringify(body) });

  test("answers the asked blobs, in order, in the batch framing", async () => {
    const blobs = ["alpha", "", "gamma"].map((s) => ({ digest: digestOfBytes(s), bytes: enc(s) }));
    for (const b of blobs) await store.put(b.digest, b.bytes);
    const res = await postRead({ digests: [blobs[2]!.digest, blobs[0]!.digest, blobs[1]!.digest] });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe(BATCH_CONTENT_TYPE);
    const entries = decodeBatch(new Uint8Array(await res.arrayBuffer()), 10);
    expect(entries.map((e) => new TextDecoder().decode(e.bytes))).toEqual(["gamma", "alpha", ""]);
  });

  test("an absent blob is a 404 naming it", async () => {
    const absent = digestOfBytes("not here");
    const res = await postRead({ digests: [absent] });
    expect(res.status).toBe(404);
    expect(((await res.json()) as { error: string }).error).toContain(absent.hash);
  });

  test.each([
    ["not JSON", "[", 400],
    ["no digests", {}, 400],
    ["a bad digest", { digests: [{ hash: "x", size: 1 }] }, 400],
    ["more bytes than a batch may hold", { digests: [{ hash: "a".repeat(64), size: 65 * 2 ** 20 }] }, 413],
  ])("refuses %s", async (_name, body, status) => {
    const res = await postRead(body);
    expect(res.status).toBe(status);
    expect(((await res.json()) as { error: string }).error.length).toBeGreaterThan(0);
  });
});

describe("GET blobs/<hash>", () => {
  let d: Digest;
  beforeEach(async () => {
    d = digestOfBytes("0123456789abcdef");
    await store.put(d, enc("0123456789abcdef"));
  });

  test("serves the blob with ETag and immutable caching", async () => {
    const res = await request(`/blobs/${d.hash}`);
    expect(res.status).toBe(200);
    expect(await res.text()).toBe("0123456789abcdef");
    expect(res.headers.get("etag")).toBe(`"${d.hash}"`);
    expect(res.headers.get("cache-control")).toContain("immutable");
    expect(res.headers.get("accept-ranges")).toBe("bytes");
  });

  test("answers If-None-Match with 304", async () => {
    const res = await request(`/blobs/${d.hash}`, { headers: { "If-None-Match": `"${d.hash}"` } });
    expect(res.status).toBe(304);
  });

  test.each([
    ["bytes=2-5", 206, "2345", "bytes 2-5/16"],
    ["bytes=10-", 206, "abcdef", "bytes 10-15/16"],
    ["bytes=-3", 206, "def", "bytes 13-15/16"],
    ["bytes=14-100", 206, "ef", "bytes 14-15/16"],
  ])("serves Range %s", async (range, status, body, contentRange) => {
    const res = await request(`/blobs/${d.hash}`, { headers: { Range: range } });
    expect(res.status).toBe(status);
    expect(await res.text()).toBe(body);
    expect(res.headers.get("content-range")).toBe(contentRange);
  });

  test("answers an unsatisfiable range with 416", async () => {
    const res = await request(`/blobs/${d.hash}`, { headers: { Range: "bytes=20-30" } });
    expect(res.status).toBe(416);
    expect(res.headers.get("content-range")).toBe("bytes */16");
  });

  test("an absent blob is a JSON 404, and a bad hash a 400", async () => {
    const missing = await request(`/blobs/${digestOfBytes("nope").hash}`);
    expect(missing.status).toBe(404);
    expect(((await missing.json()) as { code: string }).code).toBe("not_found");
    expect((await request("/blobs/zz")).status).toBe(400);
  });
});

test("parseRange handles the forms of RFC 9110", () => {
  expect(parseRange("bytes=0-0", 10)).toEqual({ start: 0, end: 0 });
  expect(parseRange("bytes=-20", 10)).toEqual({ start: 0, end: 9 });
  expect(parseRange("bytes=5-2", 10)).toBeNull();
  expect(parseRange("bytes=-", 10)).toBeNull();
  expect(parseRange("bytes=0-1,3-4", 10)).toBeNull();
  expect(parseRange("items=0-1", 10)).toBeUndefined();
});

test("GET stats and /healthz", async () => {
  const d = digestOfBytes("counted");
  await store.put(d, enc("counted"));
  await request(`/blobs/${d.hash}`);
  await request(`/blobs/${digestOfBytes("absent").hash}`);
  const stats = (await (await request("/stats")).json()) as Record<string, number>;
  expect(stats).toMatchObject({ blobs: 1, bytes: 7, hits: 1, misses: 1, evictions: 0 });
  const health = await server.app.request(new Request("http://cas.test/healthz"));
  expect(await health.json()).toEqual({ ok: true });
});

test("uploads beyond --max-size trigger LRU eviction, sparing blobs younger than --min-age", async () => {
  const blobs = Array.from({ length: 4 }, (_, i) => enc(String(i).repeat(400)));
  for (const [i, b] of blobs.entries()) {
    const d = digestOfBytes(b);
    expect((await request(`/blobs/${d.hash}?size=${d.size}`, { method: "PUT", body: b })).status).toBe(201);
    await server.settled();
    // The first three age past --min-age (60 s); the last stays young.
    if (i < 3) clock.advance(120_000);
  }
  await server.settled();
  const stats = await store.stats();
  expect(stats.bytes).toBeLessThanOrEqual(1_000);
  expect(stats.evictions).toBe(2);
  // The two oldest went; the newest, younger than min-age, stayed.
  const missing = await store.findMissing(blobs.map((b) => digestOfBytes(b)));
  expect(missing.map((d) => d.hash)).toEqual([digestOfBytes(blobs[0]!).hash, digestOfBytes(blobs[1]!).hash]);
});

describe("over real sockets with CasClient", () => {
  let listener: ReturnType<IsolateServer["listen"]>;
  let url: string;
  beforeEach(() => {
    listener = server.listen(0, "127.0.0.1");
    url = `http://127.0.0.1:${listener.port}`;
  });
  afterEach(() => listener.stop(true));

  test("a large blob streams up and down intact", async () => {
    const data = new Uint8Array(8 * 2 ** 20);
    crypto.getRandomValues(data.subarray(0, 65536));
    for (let i = 65536; i < data.length; i++) data[i] = (i * 31) & 0xff;
    const d = digestOfBytes(data);
    const client = new CasClient(url);
    expect(await client.findMissing([d])).toEqual([d]);
    await client.putBlob(d, new Blob([data]));
    expect(await client.findMissing([d])).toEqual([]);
    const back = await client.getBytes(d.hash);
    expect(digestOfBytes(back)).toEqual(d);
  });

  test("batch upload and chunked presence checks over 10,000 digests", async () => {
    const client = new CasClient(url);
    const entries = Array.from({ length: 50 }, (_, i) => ({ digest: digestOfBytes(`small ${i}`), bytes: enc(`small ${i}`) }));
    await client.putBatch(entries);
    const absent = Array.from({ length: 12_000 }, (_, i) => ({ hash: (i + 1).toString(16).padStart(64, "f"), size: 3 }));
    const missing = await client.findMissing([...entries.map((e) => e.digest), ...absent]);
    expect(missing.length).toBe(12_000);
  });

  test("getBatch downloads many small blobs in one request", async () => {
    const client = new CasClient(url);
    const entries = Array.from({ length: 300 }, (_, i) => ({ digest: digestOfBytes(`blob ${i}`), bytes: enc(`blob ${i}`) }));
    await client.putBatch(entries);
    const back = await client.getBatch(entries.map((e) => e.digest));
    expect(back.map((e) => new TextDecoder().decode(e.bytes))).toEqual(entries.map((_, i) => `blob ${i}`));
  });

  test("a client error carries the server's message", async () => {
    const client = new CasClient(url);
    const d = digestOfBytes("expected");
    const err = await client.putBlob(d, enc("whatever")).catch((e) => e);
    expect(err.code).toBe("digest_mismatch");
    expect(err.message).toContain(d.hash);
  });

  test("a request without Content-Length but a mismatching stream is refused", async () => {
    const d = digestOfBytes("streamed");
    const res = await fetch(`${url}/api/cas/v1/blobs/${d.hash}?size=${d.size}`, {
      method: "PUT",
      body: new Blob([enc("streamex")]).stream(),
    });
    expect(res.status).toBe(400);
    expect(await store.sizeOf(d.hash)).toBeNull();
  });
});

test("unknown endpoints and methods answer a JSON 404", async () => {
  for (const [method, path] of [["GET", "/api/cas/v1/nope"], ["DELETE", `/api/cas/v1/blobs/${"a".repeat(64)}`], ["GET", "/"]] as const) {
    const res = await server.app.request(new Request(`http://cas.test${path}`, { method }));
    expect(res.status).toBe(404);
    expect(((await res.json()) as { code: string }).code).toBe("not_found");
  }
});

test("a server's unknown error code is not trusted: the client falls back on the HTTP status", async () => {
  const fake = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: () => Response.json({ error: "quota exceeded", code: "quota" }, { status: 429 }) });
  try {
    const err = await new CasClient(`http://127.0.0.1:${fake.port}`).findMissing([digestOfBytes("x")]).catch((e) => e);
    expect(err.code).toBe("invalid_input");
    expect(err.message).toContain("quota exceeded");
  } finally {
    fake.stop(true);
  }
});

test("an unreachable server is an error naming its URL", async () => {
  // Port 1 on loopback: nothing listens there and the refusal is immediate.
  const client = new CasClient("http://127.0.0.1:1", { attempts: 1 });
  const err = await client.findMissing([digestOfBytes("x")]).catch((e) => e);
  expect(err.code).toBe("unreachable");
  expect(err.message).toContain("http://127.0.0.1:1");
});

test("a server URL that is not http is refused up front", () => {
  expect(() => new CasClient("ftp://host")).toThrow("only http and https");
  expect(() => new CasClient("not a url")).toThrow("is not a URL");
});
