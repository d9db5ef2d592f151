import { afterEach, beforeEach, expect, test } from "bun:test";
import { Hono } from "hono";
import { ha1 } from "../../../src/common/auth/digest.ts";
import { digestFetch } from "../../../src/common/auth/digest-fetch.ts";
import { AuthGuard, accessOf } from "../../../src/common/auth/guard.ts";
import { IpRanges } from "../../../src/common/auth/ip-ranges.ts";
import { NONCE_TTL_MS } from "../../../src/common/auth/nonces.ts";
import type { AuthPolicy } from "../../../src/common/auth/policy.ts";
import { ManualClock } from "../../../src/common/clock.ts";
import { createLogger } from "../../../src/common/log.ts";
import { curl, sentAuthorizations } from "../../helpers/curl.ts";

/** A client outside the allowed range: curl binds to this loopback address. */
const OUTSIDE = ["--interface", "127.0.0.2"];

let clock: ManualClock;
let server: ReturnType<typeof Bun.serve>;
let guard: AuthGuard;
let url: string;
/** What the routes behind the guard saw; a refused request must not get here. */
let handled: string[];

function policy(overrides: Partial<AuthPolicy> = {}): AuthPolicy {
  return {
    allowedRanges: IpRanges.parse("127.0.0.1", "test"),
    accounts: new Map([
      ["alice", { MD5: ha1("MD5", "alice", "s3cret"), "SHA-256": ha1("SHA-256", "alice", "s3cret") }],
      // Stored as dt account-digest prints it: no password, one HA1 per algorithm.
      ["bob", { MD5: ha1("MD5", "bob", "hunter2"), "SHA-256": ha1("SHA-256", "bob", "hunter2") }],
    ]),
    readRequiresAuth: false,
    trustedProxies: IpRanges.none(),
    ...overrides,
  };
}

function start(p: AuthPolicy): void {
  server?.stop(true);
  const app = new Hono();
  guard = new AuthGuard({ policy: p, clock, log: createLogger({ level: "silent" }) });
  app.use("*", guard.middleware());
  app.on(["GET", "POST"], "/submit_job", async (c) => {
    handled.push(`${c.req.method} /submit_job ${await c.req.text()}`);
    return c.json({ status: "SUCCESS" });
  });
  app.get("/job", (c) => c.text("page"));
  app.get("/healthz", (c) => c.json({ ok: true }));
  server = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: app.fetch });
  url = `http://127.0.0.1:${server.port}`;
}

beforeEach(() => {
  clock = new ManualClock();
  handled = [];
  start(policy());
});
afterEach(() => server.stop(true));

test("reads and writes are told apart by path and method; unknown writes are writes", () => {
  expect(accessOf("GET", "/job")).toBe("read");
  expect(accessOf("POST", "/tasks")).toBe("read");
  expect(accessOf("POST", "/api/cas/v1/missing")).toBe("read");
  expect(accessOf("GET", "/cancel_job")).toBe("write");
  expect(accessOf("GET", "/retry_task")).toBe("write");
  expect(accessOf("GET", "/submit_job")).toBe("write");
  expect(accessOf("GET", "/api/v1/slave/queue")).toBe("write");
  expect(accessOf("PUT", "/api/cas/v1/blobs/x")).toBe("write");
  expect(accessOf("DELETE", "/job")).toBe("write");
  expect(accessOf("POST", "/something/new")).toBe("write");
});

test("an allowed address writes without a password", async () => {
  const res = await curl(["-d", "job_id=a", `${url}/submit_job`]);
  expect(res.status).toBe(200);
  expect(handled).toEqual(["POST /submit_job job_id=a"]);
});

test("from outside the range: 401 with MD5 and SHA-256 challenges, and nothing reaches the route", async () => {
  const res = await curl([...OUTSIDE, "-d", "job_id=a", `${url}/submit_job`]);
  expect(res.status).toBe(401);
  const challenge = res.headers.get("www-authenticate") ?? "";
  expect(challenge).toMatch(/^Digest realm="dist_test", qop="auth", algorithm=SHA-256, nonce="[A-Za-z0-9_-]+", Digest realm="dist_test", qop="auth", algorithm=MD5, nonce="/);
  expect(JSON.parse(res.body)).toMatchObject({ code: "unauthorized" });
  expect(JSON.parse(res.body).error).toContain("set DIST_TEST_USER and DIST_TEST_PASSWORD");
  expect(handled).toEqual([]);
  // Reads stay open to everyone.
  expect((await curl([...OUTSIDE, `${url}/job`])).status).toBe(200);
});

test("curl --digest with the right password passes, POST body and query string included; a wrong one is 401", async () => {
  const ok = await curl([...OUTSIDE, "--digest", "-u", "alice:s3cret", "-d", "job_id=a.1.2&job_json={}", `${url}/submit_job?x=1`]);
  expect(ok.status, ok.trace).toBe(200);
  expect(handled).toEqual(["POST /submit_job job_id=a.1.2&job_json={}"]);
  expect(sentAuthorizations(ok.trace)[0]).toContain('uri="/submit_job?x=1"');

  const bob = await curl([...OUTSIDE, "--digest", "-u", "bob:hunter2", `${url}/submit_job`]);
  expect(bob.status, bob.trace).toBe(200);

  for (const wrong of ["alice:nope", "bob:s3cret", "mallory:s3cret"]) {
    const res = await curl([...OUTSIDE, "--digest", "-u", wrong, "-d", "job_id=b", `${url}/submit_job`]);
    expect(res.status).toBe(401);
  }
  expect(handled).toHaveLength(2);
});

test("a replayed nonce count is refused, even with a correct response", async () => {
  const first = await curl([...OUTSIDE, "--digest", "-u", "alice:s3cret", `${url}/submit_job`]);
  expect(first.status).toBe(200);
  const [header] = sentAuthorizations(first.trace);
  expect(header).toMatch(/nc=00000001/);
  const replay = await curl([...OUTSIDE, "-H", `Authorization: ${header}`, `${url}/submit_job`]);
  expect(replay.status).toBe(401);
  expect(replay.headers.get("www-authenticate")).not.toContain("stale=true");
  expect(handled).toHaveLength(1);
});

test("a response computed for another URL or method does not pass", async () => {
  const first = await curl([...OUTSIDE, "--digest", "-u", "alice:s3cret", `${url}/submit_job?job_id=a`]);
  const header = sentAuthorizations(first.trace)[0]!.replace(/nc=00000001/, "nc=00000002");
  expect((await curl([...OUTSIDE, "-H", `Authorization: ${header}`, `${url}/submit_job?job_id=b`])).status).toBe(401);
  expect((await curl([...OUTSIDE, "-H", `Authorization: ${header}`, "-d", "", `${url}/submit_job?job_id=a`])).status).toBe(401);
  expect(handled).toHaveLength(1);
});

test("an expired nonce is answered stale=true, and a client holding it recovers with one more round trip", async () => {
  const first = await curl([...OUTSIDE, "--digest", "-u", "alice:s3cret", `${url}/submit_job`]);
  // The very header that passed, replayed after the nonce's lifetime: stale comes before replay.
  const header = sentAuthorizations(first.trace)[0]!;
  clock.advance(NONCE_TTL_MS + 1);
  const stale = await curl([...OUTSIDE, "-H", `Authorization: ${header}`, `${url}/submit_job`]);
  expect(stale.status).toBe(401);
  expect(stale.headers.get("www-authenticate")).toContain("stale=true");
  // A wrong password with an expired nonce is not stale: the client must not just retry.
  const wrong = header.replace(/response="[0-9a-f]+"/, `response="${"0".repeat(32)}"`);
  expect((await curl([...OUTSIDE, "-H", `Authorization: ${wrong}`, `${url}/submit_job`])).headers.get("www-authenticate")).not.toContain("stale=true");
  expect(handled).toHaveLength(1);
});

/** A fetch that records the Authorization header of every request it sends ("(none)" without one). */
function authorizationsSent() {
  const sent: string[] = [];
  const counting: typeof fetch = Object.assign(async (input: string | URL | Request, init?: RequestInit) => {
    sent.push(new Headers(init?.headers).get("authorization") ?? "(none)");
    return fetch(input, init);
  }, { preconnect: fetch.preconnect });
  return { sent, counting };
}

test("dt's client takes SHA-256, reuses its nonce with rising counts, and renews it when stale", async () => {
  // dt's client cannot bind to another address; here the allowed range is empty instead.
  start(policy({ allowedRanges: IpRanges.none() }));
  const { sent, counting } = authorizationsSent();
  const client = digestFetch({ user: "alice", password: "s3cret" }, counting);
  for (let i = 0; i < 3; i++) expect((await client(`${url}/submit_job`, { method: "POST", body: `n=${i}` })).status).toBe(200);
  expect(sent).toHaveLength(4);
  expect(sent[0]).toBe("(none)");
  expect(sent.slice(1).map((h) => /nc=(\w+)/.exec(h)![1])).toEqual(["00000001", "00000002", "00000003"]);
  expect(sent[1]).toContain("algorithm=SHA-256");
  clock.advance(NONCE_TTL_MS + 1);
  expect((await client(`${url}/submit_job`, { method: "POST", body: "late" })).status).toBe(200);
  expect(sent).toHaveLength(6);
  expect(/nonce="([^"]+)"/.exec(sent[5]!)![1]).not.toBe(/nonce="([^"]+)"/.exec(sent[4]!)![1]);
  expect(handled.map((h) => h.split(" ").at(-1))).toEqual(["n=0", "n=1", "n=2", "late"]);
  // Concurrent requests on one nonce arrive out of order; all pass.
  const results = await Promise.all(Array.from({ length: 40 }, (_, i) => client(`${url}/submit_job`, { method: "POST", body: `c=${i}` })));
  expect(results.map((r) => r.status)).toEqual(Array(40).fill(200));
  // A wrong password: one retry with a fresh challenge, then the 401 is the caller's.
  const wrong = digestFetch({ user: "alice", password: "nope" }, fetch);
  expect((await wrong(`${url}/submit_job`, { method: "POST", body: "x" })).status).toBe(401);
});

test("setPolicy judges later requests by the new policy; a nonce issued before stays good", async () => {
  start(policy({ allowedRanges: IpRanges.none() }));
  const { sent, counting } = authorizationsSent();
  const alice = digestFetch({ user: "alice", password: "s3cret" }, counting);
  expect((await alice(`${url}/submit_job`, { method: "POST", body: "n=1" })).status).toBe(200);
  expect(sent).toHaveLength(2);
  // This host may now write without a password.
  guard.setPolicy(policy({ allowedRanges: IpRanges.parse("127.0.0.1", "test"), accounts: new Map() }));
  expect((await fetch(`${url}/submit_job`, { method: "POST", body: "n=2" })).status).toBe(200);
  // Accounts only, and bob's is gone: alice goes on with the nonce she holds (one request, no new challenge).
  guard.setPolicy(policy({ allowedRanges: IpRanges.none(), accounts: new Map([["alice", policy().accounts.get("alice")!]]) }));
  expect((await alice(`${url}/submit_job`, { method: "POST", body: "n=3" })).status).toBe(200);
  expect(sent).toHaveLength(3);
  expect(sent[2]).toContain("nc=00000002");
  const bob = digestFetch({ user: "bob", password: "hunter2" }, fetch);
  expect((await bob(`${url}/submit_job`, { method: "POST", body: "n=4" })).status).toBe(401);
  expect((await fetch(`${url}/submit_job`, { method: "POST", body: "n=5" })).status).toBe(401);
  expect(handled.map((h) => h.split(" ").at(-1))).toEqual(["n=1", "n=2", "n=3"]);
});

test("no accounts: an outside write is 403 naming the allowed ranges", async () => {
  start(policy({ accounts: new Map() }));
  const res = await curl([...OUTSIDE, "-d", "job_id=a", `${url}/submit_job`]);
  expect(res.status).toBe(403);
  expect(res.headers.get("www-authenticate")).toBeNull();
  expect(JSON.parse(res.body).error).toContain("this server takes writes only from 127.0.0.1/32");
  expect(handled).toEqual([]);
});

test("read_requires_auth closes reads to the same clients; /healthz stays open", async () => {
  start(policy({ readRequiresAuth: true }));
  expect((await curl([...OUTSIDE, `${url}/job`])).status).toBe(401);
  expect((await curl([...OUTSIDE, "--digest", "-u", "alice:s3cret", `${url}/job`])).status).toBe(200);
  expect((await curl([`${url}/job`])).status).toBe(200);
  expect((await curl([...OUTSIDE, `${url}/healthz`])).status).toBe(200);
});

test("behind a trusted proxy the client is X-Forwarded-For's last untrusted entry; an untrusted peer's header is ignored", async () => {
  start(policy({ allowedRanges: IpRanges.parse("10.0.0.0/8", "test"), trustedProxies: IpRanges.parse("127.0.0.1", "test") }));
  // The proxy (127.0.0.1) forwards a client from 10.1.2.3: allowed.
  expect((await curl(["-H", "X-Forwarded-For: 10.1.2.3", `${url}/submit_job`])).status).toBe(200);
  // A client forging an allowed address to the left of its real one gains nothing.
  expect((await curl(["-H", "X-Forwarded-For: 10.1.2.3, 203.0.113.9", `${url}/submit_job`])).status).toBe(401);
  // A peer that is not a trusted proxy cannot claim an address.
  expect((await curl([...OUTSIDE, "-H", "X-Forwarded-For: 10.1.2.3", `${url}/submit_job`])).status).toBe(401);
});

test("malformed Authorization headers are challenged, never a 500", async () => {
  const headers = [
    "Digest",
    "Digest username=",
    'Digest username="alice", realm="dist_test", nonce="x", uri="/submit_job", response="0", qop=auth, nc=zz, cnonce="c"',
    'Digest username="alice", realm="other", nonce="x", uri="/submit_job", response="0", qop=auth, nc=00000001, cnonce="c"',
    'Digest username="alice", realm="dist_test", nonce="x", uri="/submit_job", response="0", nc=00000001, cnonce="c", algorithm=SHA-512',
    `Digest username="${"a".repeat(100_00)}"`,
    "Basic YWxpY2U6czNjcmV0",
    "Bearer token",
  ];
  for (const header of headers) {
    const res = await curl([...OUTSIDE, "-H", `Authorization: ${header}`, `${url}/submit_job`]);
    expect(res.status).toBe(401);
  }
  expect(handled).toEqual([]);
});

/** urllib's Digest handler, as dist_test's client used it (Python 2's urllib2 parses challenges the same way). */
const PYTHON_CLIENT = `
import sys, urllib.request, urllib.error
url, user, password = sys.argv[1:4]
manager = urllib.request.HTTPPasswordMgrWithDefaultRealm()
manager.add_password(None, url, user, password)
opener = urllib.request.build_opener(urllib.request.HTTPDigestAuthHandler(manager))
try:
    with opener.open(urllib.request.Request(url, data=b"job_id=py.1.2")) as res:
        print(res.status, res.read().decode())
except urllib.error.HTTPError as err:
    print(err.code)
`;

test("curl and urllib (dist_test's client) answer the joined challenge with MD5, dt's client with SHA-256; all pass", async () => {
  const viaCurl = await curl([...OUTSIDE, "--digest", "-u", "alice:s3cret", `${url}/submit_job`]);
  expect(viaCurl.status).toBe(200);
  const curlAlgorithm = /algorithm=([\w-]+)/.exec(sentAuthorizations(viaCurl.trace)[0]!)![1];
  // curl 7.88 answers the last Digest challenge of the joined header line, as urllib does: MD5.
  expect(curlAlgorithm).toBe("MD5");

  // urllib cannot bind to another address; the allowed range is empty instead.
  start(policy({ allowedRanges: IpRanges.none() }));
  const run = async (password: string) => {
    const child = Bun.spawn(["python3", "-c", PYTHON_CLIENT, `${url}/submit_job`, "alice", password], { stdout: "pipe", stderr: "pipe" });
    const [out, err] = await Promise.all([new Response(child.stdout).text(), new Response(child.stderr).text(), child.exited]);
    return `${out}${err}`.trim();
  };
  expect(await run("s3cret")).toBe('200 {"status":"SUCCESS"}');
  expect(await run("nope")).toBe("401");
  expect(handled.filter((h) => h.includes("py.1.2"))).toHaveLength(1);
});

test("a write sent by a web page is refused, even from an allowed address; a typed URL and non-browser clients are not", async () => {
  const asPage = [
    ["-H", "Origin: http://evil.example", "-d", "job_id=a"],
    ["-H", "Sec-Fetch-Site: cross-site"],
    // DNS rebinding: the page's requests look same-origin to the browser.
    ["-H", "Sec-Fetch-Site: same-origin", "-H", "Host: evil.example"],
  ];
  for (const headers of asPage) {
    const res = await curl([...headers, `${url}/submit_job`]);
    expect(res.status).toBe(403);
    expect(JSON.parse(res.body).error).toContain("dt takes writes from its clients, not from web pages");
  }
  expect(handled).toEqual([]);
  expect((await curl(["-H", "Sec-Fetch-Site: none", `${url}/submit_job`])).status).toBe(200);
  // Reads from pages are what the pages are for.
  expect((await curl(["-H", "Sec-Fetch-Site: cross-site", `${url}/job`])).status).toBe(200);
});

test("a trusted proxy that names no client makes the client unknown, not the proxy", async () => {
  start(policy({ allowedRanges: IpRanges.parse("127.0.0.0/8", "test"), trustedProxies: IpRanges.parse("127.0.0.1", "test") }));
  expect((await curl([`${url}/submit_job`])).status).toBe(401);
  expect((await curl(["-H", "X-Forwarded-For: 127.0.0.1", `${url}/submit_job`])).status).toBe(401);
  expect((await curl(["-H", "X-Forwarded-For: 127.0.0.9", `${url}/submit_job`])).status).toBe(200);
});

test("a request-target Bun normalizes (a quote, a dot segment) still matches the uri the client hashed", async () => {
  const quoted = await curl([...OUTSIDE, "--digest", "-u", "alice:s3cret", `${url}/submit_job?job_id=a'b`]);
  expect(quoted.status).toBe(200);
  const dotted = await curl([...OUTSIDE, "--path-as-is", "--digest", "-u", "alice:s3cret", `${url}/x/../submit_job`]);
  expect(dotted.status).toBe(200);
});

test("dt's client answers only dt's realm, only the servers it was given, and never Basic", async () => {
  const seen: (string | null)[] = [];
  const other = Bun.serve({
    port: 0,
    hostname: "127.0.0.1",
    fetch: (req) => {
      seen.push(req.headers.get("authorization"));
      const challenge = new URL(req.url).searchParams.get("challenge")!;
      return new Response("who?", { status: 401, headers: { "WWW-Authenticate": challenge } });
    },
  });
  try {
    const base = `http://127.0.0.1:${other.port}/`;
    const ask = (client: typeof fetch, challenge: string) => client(`${base}?challenge=${encodeURIComponent(challenge)}`);
    const creds = { user: "alice", password: "s3cret" };
    const anywhere = digestFetch(creds);
    expect((await ask(anywhere, 'Digest realm="evil", qop="auth", nonce="n"')).status).toBe(401);
    expect((await ask(anywhere, 'Basic realm="dist_test"')).status).toBe(401);
    expect(seen).toEqual([null, null]);
    const onlyTheMaster = digestFetch(creds, fetch, [new URL(url).origin]);
    expect((await ask(onlyTheMaster, 'Digest realm="dist_test", qop="auth", nonce="n"')).status).toBe(401);
    expect(seen).toEqual([null, null, null]);
    // The same challenge from a server it was given is answered.
    await ask(anywhere, 'Digest realm="dist_test", qop="auth", nonce="n"');
    expect(seen.at(-1)).toStartWith('Digest username="alice"');
  } finally {
    other.stop(true);
  }
});
