/**
 * Every endpoint of the master that reads a request body has a limit, and
 * a body past it is a 413 with dt's JSON, sent with a Content-Length and
 * streamed without one, after which the server keeps serving and nothing
 * of the body is stored. On a real server on port 0, composed as
 * `dt master` composes it (CAS, native and slave APIs, dist_test's API and
 * pages). Endpoints that read no body (GETs, `/`, POST jobs/:job/cancel)
 * are not listed: they never look at one.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { Hono } from "hono";
import { errorBody, httpStatusOf } from "../../src/common/http.ts";
import { createLogger } from "../../src/common/log.ts";
import { systemClock } from "../../src/common/clock.ts";
import { CAS_API_PREFIX } from "../../src/isolate/cas/client.ts";
import { FsBlobStore } from "../../src/isolate/cas/fs-blob-store.ts";
import { DEFAULT_CAS_LIMITS } from "../../src/isolate/cas/limits.ts";
import { casRoutes } from "../../src/isolate/cas/server.ts";
import { masterApp } from "../../src/master/http/app.ts";
import { SMALL_FORM_BYTES } from "../../src/master/http/cherrypy.ts";
import { distTestRoutes } from "../../src/master/http/dist-test-api.ts";
import { DEFAULT_SLAVE_BODY_LIMITS, slaveRoutes } from "../../src/master/http/slave-api.ts";
import { type Lease, outputKey } from "../../src/master/protocol.ts";
import { TempDirs } from "../helpers/temp.ts";
import { type MasterFixture, hashOf, makeMaster } from "../web/fixture.ts";

const MIB = 2 ** 20;
/** The native API's and dist_test's job bodies (native-api.ts, dist-test-api.ts). */
const JOB_BODY_LIMIT = 64 * MIB;
const SMALL = { maxJsonBytes: 1000, maxResultBytes: 1000, maxLogChunkBytes: 1000, maxOutputBytes: 1000, maxResultBytesInFlight: 1000 };

const temps = new TempDirs();
let fx: MasterFixture;
let store: FsBlobStore;
let server: ReturnType<typeof Bun.serve>;
let small: ReturnType<typeof Bun.serve>;
let base: string;
let smallBase: string;
let lease: Lease;
let artifactsDir: string;

beforeAll(async () => {
  fx = await makeMaster();
  const dir = await temps.make("dt-limits-");
  store = await FsBlobStore.open(join(dir, "cas"), systemClock);
  const log = createLogger({ level: "silent" });
  const app = masterApp({
    master: fx.master, log,
    mounts: [{ prefix: CAS_API_PREFIX, app: casRoutes({ store, log }) }, { prefix: "/", app: distTestRoutes(fx.master) }],
  });
  // As dt master: Bun's own cap is the largest blob, so that each endpoint's limit is what applies.
  server = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: app.fetch, maxRequestBodySize: DEFAULT_CAS_LIMITS.maxBlobBytes });
  base = `http://127.0.0.1:${server.port}`;
  // The slave API with small limits, to send a whole output past its limit without sending gigabytes.
  const smallApp = new Hono();
  smallApp.onError((err, c) => c.json(errorBody(err), httpStatusOf(err)));
  smallApp.route("/api/v1/slave", slaveRoutes(fx.master, SMALL));
  small = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: smallApp.fetch });
  smallBase = `http://127.0.0.1:${small.port}`;
  await fx.master.submitJob({ job_id: "limits.1700000000.1", tasks: [{ isolate_hash: hashOf("x"), description: "x" }] });
  [lease] = await fx.master.dispatcher.lease({ slave: { name: "s1", slots: 1, dimensions: {}, version: "t" }, free: 1, wait_ms: 0 });
  // The fixture's FsArtifactStore keeps its directory private; its temp files are what a failed upload must not leave.
  artifactsDir = (fx.master.deps.artifacts as unknown as { dir: string }).dir;
});
afterAll(async () => {
  await server.stop(true);
  await small.stop(true);
  await store.close();
  await fx.close();
  await temps.cleanup();
});

const bytes = (n: number, fill = 0x61) => new Uint8Array(n).fill(fill);
/** The same bytes as a stream of 1 MiB chunks, which fetch sends without a Content-Length. */
const streamOf = (data: Uint8Array) =>
  new ReadableStream<Uint8Array>({
    start(controller) {
      for (let at = 0; at < data.byteLength; at += MIB) controller.enqueue(data.subarray(at, at + MIB));
      controller.close();
    },
  });

async function expect413(res: Response, what: string): Promise<void> {
  const text = await res.text();
  expect({ what, status: res.status }).toEqual({ what, status: 413 });
  expect(JSON.parse(text)).toMatchObject({ code: "too_large", error: expect.stringContaining("limit") });
}

async function expectStillServing(): Promise<void> {
  const res = await fetch(`${base}/healthz`);
  expect(res.status).toBe(200);
  expect(await res.json()).toEqual({ ok: true });
}

/** Each body-reading endpoint, how its body is sent, and its limit. */
const endpoints = (): [method: string, path: string, type: string, limit: number][] => [
  ["POST", "/api/v1/jobs", "application/json", JOB_BODY_LIMIT],
  ["POST", "/submit_job", "application/x-www-form-urlencoded", JOB_BODY_LIMIT],
  ...["/cancel_job", "/retry_task", "/job_status", "/tasks", "/failed_tasks", "/job", "/trace", "/view_log", "/log"].map(
    (path): [string, string, string, number] => ["POST", path, "application/x-www-form-urlencoded", SMALL_FORM_BYTES],
  ),
  ["POST", "/api/v1/slave/lease", "application/json", DEFAULT_SLAVE_BODY_LIMITS.maxJsonBytes],
  ["POST", "/api/v1/slave/heartbeat", "application/json", DEFAULT_SLAVE_BODY_LIMITS.maxJsonBytes],
  ["POST", "/api/v1/slave/result", "application/json", DEFAULT_SLAVE_BODY_LIMITS.maxResultBytes],
  ["POST", `/api/v1/slave/log?lease=${lease.lease_id}&stream=stdout&offset=0`, "application/octet-stream", DEFAULT_SLAVE_BODY_LIMITS.maxLogChunkBytes],
  ["POST", `${CAS_API_PREFIX}/missing`, "application/json", DEFAULT_CAS_LIMITS.maxMissingBodyBytes],
  ["POST", `${CAS_API_PREFIX}/batch-read`, "application/json", DEFAULT_CAS_LIMITS.maxMissingBodyBytes],
  ["POST", `${CAS_API_PREFIX}/batch`, "application/x-dt-blob-batch", DEFAULT_CAS_LIMITS.maxBatchBodyBytes],
];

describe("a body one byte past its endpoint's limit is a 413, and the server keeps serving", () => {
  test("with a Content-Length, and streamed without one", async () => {
    for (const [method, path, type, limit] of endpoints()) {
      const body = bytes(limit + 1);
      await expect413(await fetch(`${base}${path}`, { method, headers: { "Content-Type": type }, body }), `${path} with Content-Length`);
      await expectStillServing();
      await expect413(await fetch(`${base}${path}`, { method, headers: { "Content-Type": type }, body: streamOf(body) }), `${path} streamed`);
      await expectStillServing();
    }
    // Nothing of it was kept: no job, no blob, no log.
    expect((await fx.master.listJobs({})).map((j) => j.job_id)).toEqual(["limits.1700000000.1"]);
    expect((await store.stats()).blobs).toBe(0);
    expect(fx.master.deps.liveLogs.size(outputKey(lease.job_id, lease.task_id, lease.attempt, "stdout"))).toBe(0);
  }, 60_000);

  test("a body at the limit is read (the limit is not off by one)", async () => {
    const res = await fetch(`${base}/api/v1/slave/log?lease=${lease.lease_id}&stream=stderr&offset=0`, { method: "POST", body: bytes(DEFAULT_SLAVE_BODY_LIMITS.maxLogChunkBytes) });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ size: DEFAULT_SLAVE_BODY_LIMITS.maxLogChunkBytes });
  });

  test("PUT blobs: a declared size past the largest blob is refused before any byte is read", async () => {
    const hash = hashOf("huge");
    await expect413(await fetch(`${base}${CAS_API_PREFIX}/blobs/${hash}?size=${DEFAULT_CAS_LIMITS.maxBlobBytes + 1}`, { method: "PUT", body: "x" }), "PUT blobs");
    await expectStillServing();
    expect(await store.sizeOf(hash)).toBeNull();
  });

  test("PUT output: a declared length past the default limit is refused before any byte is read", async () => {
    // fetch sends the true length; a raw request can announce 2 GiB and send nothing more.
    const url = new URL(`${base}/api/v1/slave/output?lease=${lease.lease_id}&kind=stdout`);
    const head = `PUT ${url.pathname}${url.search} HTTP/1.1\r\nHost: ${url.host}\r\nContent-Length: ${DEFAULT_SLAVE_BODY_LIMITS.maxOutputBytes + 1}\r\nConnection: close\r\n\r\nabc`;
    const answer = await rawRequest(Number(url.port), head);
    expect(answer).toStartWith("HTTP/1.1 413");
    expect(answer).toContain('"code":"too_large"');
    await expectStillServing();
    expect(readdirSync(join(artifactsDir, ".tmp"))).toEqual([]);
  });

  test("PUT output past its limit, with a length or streamed, stores nothing and leaves no temp file; one within it is stored", async () => {
    const put = (body: Uint8Array | ReadableStream<Uint8Array>, kind = "stdout") =>
      fetch(`${smallBase}/api/v1/slave/output?lease=${lease.lease_id}&kind=${kind}`, { method: "PUT", body });
    await expect413(await put(bytes(SMALL.maxOutputBytes + 1)), "output with Content-Length");
    await expect413(await put(streamOf(bytes(3 * MIB))), "output streamed");
    const key = outputKey(lease.job_id, lease.task_id, lease.attempt, "stdout");
    expect(existsSync(join(artifactsDir, key))).toBe(false);
    expect(readdirSync(join(artifactsDir, ".tmp"))).toEqual([]);
    expect((await put(bytes(SMALL.maxOutputBytes))).status).toBe(200);
    expect((await fx.master.deps.artifacts.get(key))?.size).toBe(SMALL.maxOutputBytes);
  });

  test("a live log stops growing at the output limit: the append past it is a 413 and the log keeps what it had", async () => {
    const append = (offset: number, body: Uint8Array) => fetch(`${smallBase}/api/v1/slave/log?lease=${lease.lease_id}&stream=stdout&offset=${offset}`, { method: "POST", body });
    const key = outputKey(lease.job_id, lease.task_id, lease.attempt, "stdout");
    const before = fx.master.deps.liveLogs.size(key);
    expect(await (await append(before, bytes(SMALL.maxOutputBytes - before))).json()).toEqual({ size: SMALL.maxOutputBytes });
    await expect413(await append(SMALL.maxOutputBytes, bytes(1)), "append past the output limit");
    expect(fx.master.deps.liveLogs.size(key)).toBe(SMALL.maxOutputBytes);
  });

  test("the slave API's other limits are its parameters too", async () => {
    await expect413(await fetch(`${smallBase}/api/v1/slave/lease`, { method: "POST", body: bytes(SMALL.maxJsonBytes + 1) }), "small lease");
    await expect413(await fetch(`${smallBase}/api/v1/slave/log?lease=${lease.lease_id}&stream=stdout&offset=0`, { method: "POST", body: bytes(SMALL.maxLogChunkBytes + 1) }), "small log");
  });
});

/** Sends `request` as is over TCP and returns the whole answer. */
async function rawRequest(port: number, request: string): Promise<string> {
  const { promise, resolve, reject } = Promise.withResolvers<string>();
  let answer = "";
  await Bun.connect({
    hostname: "127.0.0.1",
    port,
    socket: {
      open(socket) {
        socket.write(request);
      },
      data(_socket, data) {
        answer += new TextDecoder().decode(data);
      },
      close() {
        resolve(answer);
      },
      error(_socket, err) {
        reject(err);
      },
    },
  });
  return promise;
}
