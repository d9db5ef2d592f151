import { afterEach, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { MasterClient } from "../../src/client/api.ts";
import { DtError } from "../../src/common/errors.ts";
import { closedServerUrl } from "../helpers/cas.ts";

const servers: ReturnType<typeof Bun.serve>[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) await s.stop(true);
});

function serve(fetch: (req: Request) => Response | Promise<Response>): string {
  const server = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch });
  servers.push(server);
  return `http://127.0.0.1:${server.port}`;
}

/** A client that records its waits instead of sleeping. */
function client(url: string, extra: ConstructorParameters<typeof MasterClient>[1] = {}) {
  const waits: number[] = [];
  const api = new MasterClient(url, { retry: { attempts: 3, delayMs: 5_000 }, sleep: async (ms) => void waits.push(ms), ...extra });
  return { api, waits };
}

test("a network error is tried again, as dist_test did, and then reported as unreachable", async () => {
  const url = await closedServerUrl();
  const { api, waits } = client(url);
  const err = await api.jobSummary("a.1.1").catch((e: unknown) => e);
  expect(err).toBeInstanceOf(DtError);
  expect((err as DtError).code).toBe("unreachable");
  expect((err as DtError).message).toContain("is the master running?");
  expect(waits).toEqual([5_000, 5_000]);
});

test("a 5xx is tried again until it passes; a 4xx is not tried again", async () => {
  let calls = 0;
  const url = serve((req) => {
    calls++;
    if (new URL(req.url).pathname.endsWith("/bad")) return Response.json({ error: "bad thing", code: "invalid_input" }, { status: 400 });
    return calls < 3 ? new Response("busy", { status: 502 }) : Response.json({ jobs: [] });
  });
  const { api, waits } = client(url);
  expect(await api.listJobs()).toEqual([]);
  expect(waits).toEqual([5_000, 5_000]);
  calls = 0;
  const err = (await api.jobSummary("bad").catch((e: unknown) => e)) as DtError;
  expect(err.code).toBe("invalid_input");
  expect(err.message).toContain("bad thing");
  expect(calls).toBe(1);
});

test("a master that never answers is abandoned after url_timeout", async () => {
  const url = serve(() => new Promise<Response>(() => {}));
  const { api } = client(url, { retry: { attempts: 1, delayMs: 0 }, timeoutMs: 50 });
  const err = (await api.jobSummary("a.1.1").catch((e: unknown) => e)) as DtError;
  expect(err.code).toBe("unreachable");
  expect(err.message).toContain("no answer within 0.05 s");
});

test("the client answers the master's HTTP Digest challenge with the configured user and password", async () => {
  const seen: (string | null)[] = [];
  const url = serve(async (req) => {
    seen.push(req.headers.get("authorization"));
    const header = req.headers.get("authorization");
    if (!header) return new Response("who?", { status: 401, headers: { "WWW-Authenticate": 'Digest realm="dist_test", qop="auth", nonce="n0nce", opaque="op"' } });
    const fields = Object.fromEntries([...header.matchAll(/(\w+)="?([^",]*)"?/g)].map((m) => [m[1], m[2]]));
    const md5 = (s: string) => createHash("md5").update(s).digest("hex");
    const expected = md5(`${md5("alice:dist_test:s3cret")}:n0nce:${fields.nc}:${fields.cnonce}:auth:${md5("POST:/api/v1/jobs")}`);
    if (fields.response !== expected || fields.opaque !== "op" || fields.uri !== "/api/v1/jobs") return new Response("no", { status: 401 });
    expect(await req.json()).toMatchObject({ job_id: "a.1.1" });
    return Response.json({ job_id: "a.1.1", url: "/job/a.1.1", tasks: 1 }, { status: 201 });
  });
  const { api } = client(url, { credentials: { user: "alice", password: "s3cret" } });
  expect(await api.submitJob({ job_id: "a.1.1", tasks: [{ isolate_hash: "h", description: "d" }] })).toEqual({ job_id: "a.1.1", url: "/job/a.1.1", tasks: 1 });
  expect(seen[0]).toBeNull();
  expect(seen[1]).toStartWith('Digest username="alice"');

  const wrong = client(url, { credentials: { user: "alice", password: "nope" } }).api;
  await expect(wrong.cancelJob("a.1.1")).rejects.toThrow('the master refused user "alice"');
  const anonymous = client(url).api;
  await expect(anonymous.cancelJob("a.1.1")).rejects.toThrow("the master asks for a password");
});

test("links from the master are made absolute against it; links elsewhere are kept", () => {
  const api = new MasterClient("http://m:8081/");
  expect(api.resolveLink("/api/v1/artifacts/k")).toBe("http://m:8081/api/v1/artifacts/k");
  expect(api.resolveLink("https://s3/x?sig=1")).toBe("https://s3/x?sig=1");
  expect(() => new MasterClient("m:8081")).toThrow("only http and https");
  expect(() => new MasterClient("not a url")).toThrow("is not a URL");
});
