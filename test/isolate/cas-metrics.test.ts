/**
 * `dt isolate-server`'s /metrics and /readyz on a real socket: blob bytes
 * counted in and out as they pass, requests by route pattern, the output
 * accepted by promtool, and readiness that fails when the store's
 * directory is gone.
 */
import { afterEach, beforeEach, expect, test } from "bun:test";
import { rm } from "node:fs/promises";
import { systemClock } from "../../src/common/clock.ts";
import { createLogger } from "../../src/common/log.ts";
import { PROMETHEUS_CONTENT_TYPE } from "../../src/common/metrics/registry.ts";
import { BATCH_CONTENT_TYPE, encodeBatch } from "../../src/isolate/cas/batch.ts";
import { FsBlobStore } from "../../src/isolate/cas/fs-blob-store.ts";
import { IsolateServer } from "../../src/isolate/cas/isolate-server.ts";
import { digestOfBytes } from "../../src/isolate/digest.ts";
import { expectPromtoolAccepts, promtoolMissing } from "../common/metrics/promtool.ts";
import { TempDirs } from "../helpers/temp.ts";

const NO_PROMTOOL = promtoolMissing("test/isolate/cas-metrics.test.ts");
const temps = new TempDirs();
let dir: string;
let server: IsolateServer;
let listener: ReturnType<IsolateServer["listen"]>;
let base: string;

beforeEach(async () => {
  dir = await temps.make("dt-cas-metrics-");
  server = new IsolateServer({ store: await FsBlobStore.open(dir, systemClock), log: createLogger({ level: "silent" }), clock: systemClock });
  listener = server.listen(0, "127.0.0.1");
  base = `http://127.0.0.1:${listener.port}`;
});
afterEach(async () => {
  await listener.stop(true);
  await server.close();
  await temps.cleanup();
});

async function scrape(): Promise<string> {
  const res = await fetch(`${base}/metrics`);
  expect(res.status).toBe(200);
  expect(res.headers.get("content-type")).toBe(PROMETHEUS_CONTENT_TYPE);
  return res.text();
}

/** The value of one sample line, e.g. `dt_cas_bytes_sent_total`; 0 when absent. */
function sample(text: string, series: string): number {
  const line = text.split("\n").find((l) => l.startsWith(`${series} `));
  return line === undefined ? 0 : Number(line.slice(series.length + 1));
}

test("blob bytes are counted in and out as they pass; HEAD and 304 send none", async () => {
  const blob = new Uint8Array(1_500_000).map((_, i) => i % 251);
  const d = digestOfBytes(blob);
  const put = await fetch(`${base}/api/cas/v1/blobs/${d.hash}?size=${d.size}`, { method: "PUT", body: new Blob([blob]).stream(), headers: { "Content-Length": String(d.size) } });
  expect(put.status).toBe(201);
  const small = [digestOfBytes("one"), digestOfBytes("two")].map((digest, i) => ({ digest, bytes: new TextEncoder().encode(["one", "two"][i]) }));
  const batch = encodeBatch(small);
  expect((await fetch(`${base}/api/cas/v1/batch`, { method: "POST", body: batch, headers: { "Content-Type": BATCH_CONTENT_TYPE } })).status).toBe(200);
  let text = await scrape();
  expect(sample(text, "dt_cas_bytes_received_total")).toBe(d.size + batch.byteLength);
  expect(sample(text, "dt_cas_bytes_sent_total")).toBe(0);

  const whole = await fetch(`${base}/api/cas/v1/blobs/${d.hash}`);
  expect(new Uint8Array(await whole.arrayBuffer())).toEqual(blob);
  const part = await fetch(`${base}/api/cas/v1/blobs/${d.hash}`, { headers: { Range: "bytes=100-199" } });
  expect((await part.arrayBuffer()).byteLength).toBe(100);
  expect((await fetch(`${base}/api/cas/v1/blobs/${d.hash}`, { method: "HEAD" })).status).toBe(200);
  expect((await fetch(`${base}/api/cas/v1/blobs/${d.hash}`, { headers: { "If-None-Match": `"${d.hash}"` } })).status).toBe(304);
  const read = await fetch(`${base}/api/cas/v1/batch-read`, { method: "POST", body: JSON.stringify({ digests: small.map((e) => e.digest) }), headers: { "Content-Type": "application/json" } });
  const readBytes = (await read.arrayBuffer()).byteLength;
  expect(readBytes).toBe(batch.byteLength);
  expect(read.headers.get("content-length")).toBe(String(readBytes));

  text = await scrape();
  expect(sample(text, "dt_cas_bytes_sent_total")).toBe(d.size + 100 + readBytes);
  expect(sample(text, `dt_http_requests_total{method="PUT",route="/api/cas/v1/blobs/:hash",status="201"}`)).toBe(1);
  expect(sample(text, `dt_http_requests_total{method="GET",route="/api/cas/v1/blobs/:hash",status="206"}`)).toBe(1);
  expect(sample(text, `dt_http_requests_total{method="HEAD",route="/api/cas/v1/blobs/:hash",status="200"}`)).toBe(1);
  expect(text).not.toContain(d.hash);
  expect(text).toContain('dt_build_info{version="');
});

test.skipIf(!!NO_PROMTOOL)(`promtool check metrics accepts /metrics${NO_PROMTOOL ? ` [skipped: ${NO_PROMTOOL}]` : ""}`, async () => {
  await fetch(`${base}/api/cas/v1/stats`);
  await fetch(`${base}/no/such/thing`);
  await expectPromtoolAccepts(await scrape());
});

test("/readyz: 200 while the store's directory is there, 503 naming the CAS and the directory once it is removed", async () => {
  const ok = await fetch(`${base}/readyz`);
  expect(ok.status).toBe(200);
  expect(await ok.json()).toMatchObject({ ok: true, checks: { cas: { ok: true } } });
  await rm(dir, { recursive: true, force: true });
  const down = await fetch(`${base}/readyz`);
  expect(down.status).toBe(503);
  const body = (await down.json()) as { ok: boolean; error: string; code: string };
  expect(body).toMatchObject({ ok: false, code: "unreachable" });
  expect(body.error).toStartWith("not ready: cas: blob store ");
  expect(body.error).toContain(dir);
  // Liveness does not depend on the store.
  expect((await fetch(`${base}/healthz`)).status).toBe(200);
});

test("no input to get wrong: queries are ignored, other methods are a JSON 404", async () => {
  expect((await fetch(`${base}/metrics?format=json&x[]=1`)).status).toBe(200);
  expect((await fetch(`${base}/readyz?%zz`)).status).toBe(200);
  for (const path of ["/metrics", "/readyz"]) {
    const res = await fetch(`${base}${path}`, { method: "POST", body: "x" });
    expect([path, res.status, ((await res.json()) as { code: string }).code]).toEqual([path, 404, "not_found"]);
  }
});
