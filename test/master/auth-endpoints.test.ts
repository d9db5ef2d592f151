/**
 * Every route of a real master and a real isolate server, asked by curl
 * from 127.0.0.2 (outside the allowed range): writes answer 401 without
 * credentials and pass with them; reads answer without them unless closed.
 */
import { afterEach, describe, expect, test } from "bun:test";
import { ha1 } from "../../src/common/auth/digest.ts";
import { accessOf } from "../../src/common/auth/guard.ts";
import { IpRanges } from "../../src/common/auth/ip-ranges.ts";
import type { AuthPolicy } from "../../src/common/auth/policy.ts";
import { systemClock } from "../../src/common/clock.ts";
import { createLogger } from "../../src/common/log.ts";
import { FsBlobStore } from "../../src/isolate/cas/fs-blob-store.ts";
import { IsolateServer } from "../../src/isolate/cas/isolate-server.ts";
import { curl } from "../helpers/curl.ts";
import { TempDirs } from "../helpers/temp.ts";
import { serveTestMaster } from "./helpers.ts";

const OUTSIDE = ["--interface", "127.0.0.2"];
const log = createLogger({ level: "silent" });
const temps = new TempDirs();
const stops: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const stop of stops.splice(0)) await stop();
  await temps.cleanup();
});

function policy(readRequiresAuth = false): AuthPolicy {
  return {
    allowedRanges: IpRanges.parse("127.0.0.1", "test"),
    accounts: new Map([["alice", { MD5: ha1("MD5", "alice", "s3cret"), "SHA-256": ha1("SHA-256", "alice", "s3cret") }]]),
    readRequiresAuth,
    trustedProxies: IpRanges.none(),
  };
}

async function master(readRequiresAuth = false) {
  const server = await serveTestMaster(await temps.make("dt-auth-master-"), policy(readRequiresAuth));
  stops.push(() => server.stop(100));
  return server;
}

/** Each route once, its parameters filled in with harmless values. */
function endpoints(routes: { method: string; path: string }[]): { method: string; path: string }[] {
  const seen = new Set<string>();
  const out: { method: string; path: string }[] = [];
  for (const { method, path } of routes) {
    if (method === "ALL") continue;
    const concrete = path.replace(":job", "nobody.1.2").replace(":hash", "a".repeat(64)).replace(":key", "nothing.txt").replace(":id", "1");
    if (seen.has(`${method} ${concrete}`)) continue;
    seen.add(`${method} ${concrete}`);
    out.push({ method, path: concrete });
  }
  return out;
}

const ask = (base: string, e: { method: string; path: string }, extra: string[] = []) =>
  curl([...OUTSIDE, ...extra, "-X", e.method, ...(e.method === "GET" ? [] : ["-H", "Content-Type: application/json", "--data-binary", "{}"]), `${base}${e.path}`]);

/** What issue 5 names as protected; each must exist and be a write, so a renamed route or a loosened rule fails here. */
const MUST_BE_PROTECTED = [
  "POST /api/v1/jobs",
  "POST /api/v1/jobs/nobody.1.2/cancel",
  "POST /api/v1/quarantine",
  "DELETE /api/v1/quarantine/1",
  "GET /submit_job",
  "POST /submit_job",
  "GET /cancel_job",
  "POST /cancel_job",
  "GET /retry_task",
  "POST /retry_task",
  "POST /api/v1/slave/lease",
  "POST /api/v1/slave/heartbeat",
  "POST /api/v1/slave/log",
  "PUT /api/v1/slave/output",
  "GET /api/v1/slave/queue",
  "POST /api/v1/slave/result",
  `PUT /api/cas/v1/blobs/${"a".repeat(64)}`,
  "POST /api/cas/v1/batch",
];

describe("every route of the master", () => {
  test("writes answer 401 without credentials and pass with them; reads answer anyone", async () => {
    const server = await master();
    const all = endpoints(server.routes);
    const names = all.map((e) => `${e.method} ${e.path}`);
    for (const name of MUST_BE_PROTECTED) {
      expect(names).toContain(name);
      const [method, path] = name.split(" ") as [string, string];
      expect(accessOf(method, path)).toBe("write");
    }
    const writes = all.filter((e) => accessOf(e.method, e.path) === "write");
    const reads = all.filter((e) => accessOf(e.method, e.path) === "read");
    expect(writes.length).toBeGreaterThanOrEqual(MUST_BE_PROTECTED.length);
    expect(reads.length).toBeGreaterThan(15);
    for (const e of writes) {
      const res = await ask(server.url, e);
      expect([e.path, res.status, res.headers.get("www-authenticate")?.slice(0, 6)]).toEqual([e.path, 401, "Digest"]);
      const authed = await ask(server.url, e, ["--digest", "-u", "alice:s3cret"]);
      // Past the guard the route answers for itself: a 2xx or its own 4xx for the dummy input, never 401/403.
      expect([e.path, authed.status === 401 || authed.status === 403 || authed.status >= 500]).toEqual([e.path, false]);
    }
    for (const e of reads) {
      const res = await ask(server.url, e);
      expect([e.path, res.status === 401 || res.status === 403 || res.status >= 500]).toEqual([e.path, false]);
    }
  });

  test("a quarantine added or removed with an account is by that account, whatever the body's user says", async () => {
    const server = await master();
    const post = ["-X", "POST", "-H", "Content-Type: application/json", "--data-binary", JSON.stringify({ suite: "S", name: "n", user: "mallory" })];
    expect((await curl([...OUTSIDE, ...post, `${server.url}/api/v1/quarantine`])).status).toBe(401);
    const added = await curl([...OUTSIDE, "--digest", "-u", "alice:s3cret", ...post, `${server.url}/api/v1/quarantine`]);
    expect(added.status, added.body).toBe(201);
    const entry = JSON.parse(added.body) as { id: number; created_by: string };
    expect(entry.created_by).toBe("alice");
    const removed = await curl([...OUTSIDE, "--digest", "-u", "alice:s3cret", "-X", "DELETE", `${server.url}/api/v1/quarantine/${entry.id}?user=mallory`]);
    expect(removed.status, removed.body).toBe(200);
    expect(JSON.parse(removed.body)).toMatchObject({ removed_by: "alice", active: false });
    // From the allowed address, no account: the client's word is all there is.
    const local = await curl(["-X", "POST", "-H", "Content-Type: application/json", "--data-binary", JSON.stringify({ suite: "S", name: "n", user: "carol" }), `${server.url}/api/v1/quarantine`]);
    expect(local.status, local.body).toBe(201);
    expect(JSON.parse(local.body)).toMatchObject({ created_by: "carol" });
  });

  test("read_requires_auth: every route but /healthz answers 401 without credentials", async () => {
    const server = await master(true);
    for (const e of endpoints(server.routes)) {
      const res = await ask(server.url, e);
      expect([e.path, res.status]).toEqual([e.path, e.path === "/healthz" ? 200 : 401]);
    }
    const page = await curl([...OUTSIDE, "--digest", "-u", "alice:s3cret", `${server.url}/`]);
    expect(page.status).toBe(200);
    expect(page.body).toContain("<html");
  });
});

describe("every route of dt isolate-server", () => {
  test("uploads answer 401 without credentials; lookups and downloads answer anyone", async () => {
    const dir = await temps.make("dt-auth-cas-");
    const isolate = new IsolateServer({ store: await FsBlobStore.open(dir, systemClock), log, clock: systemClock, auth: policy() });
    const listener = isolate.listen(0, "127.0.0.1");
    stops.push(async () => {
      await listener.stop(true);
      await isolate.close();
    });
    const base = `http://127.0.0.1:${listener.port}`;
    const all = endpoints(isolate.app.routes);
    const writes = all.filter((e) => accessOf(e.method, e.path) === "write").map((e) => `${e.method} ${e.path}`);
    expect(writes.sort()).toEqual(["POST /api/cas/v1/batch", `PUT /api/cas/v1/blobs/${"a".repeat(64)}`]);
    for (const e of all) {
      const res = await ask(base, e);
      const refused = res.status === 401 || res.status === 403;
      expect([e.path, refused]).toEqual([e.path, accessOf(e.method, e.path) === "write"]);
    }
  });
});
