import { timingSafeEqual } from "node:crypto";
import type { Context, MiddlewareHandler } from "hono";
import type { Clock } from "../clock.ts";
import type { Logger } from "../log.ts";
import { type DigestAlgorithm, REALM, digestResponse, isDigestAlgorithm, parseAuthParams } from "./digest.ts";
import { NonceBook } from "./nonces.ts";
import type { AuthPolicy } from "./policy.ts";

export type Access = "read" | "write";

/** The context variable holding the account a request was admitted by (HTTP Digest), when it was. */
const ADMITTED_USER = "dtAdmittedUser";

/** The account that signed the request, when the guard admitted it by one: who an entry a write makes is by, rather than what the client says. */
export function admittedUser(c: Context): string | undefined {
  const user: unknown = c.get(ADMITTED_USER);
  return typeof user === "string" ? user : undefined;
}

/** The slave protocol: every call changes state (leases, logs, results), its GET /queue included, which names the beanstalkd server. */
const SLAVE_API = /^\/api\/v1\/slave(?:\/|$)/;
/** dist_test's writes, which its client and slaves call with GET as often as POST. */
const DIST_TEST_WRITES = /^\/(?:submit_job|cancel_job|retry_task)$/;

/** Whether `path` is one of dist_test's calls that change the queue: CherryPy answered them to GET as to POST (its client cancels with a GET), so the method does not tell. */
export function isDistTestWrite(path: string): boolean {
  return DIST_TEST_WRITES.test(path);
}
/** POSTs that only read: CAS lookups, and dist_test's reads and pages, which CherryPy answered on either method. */
const READ_ONLY_POSTS = /^\/(?:api\/cas\/v1\/(?:missing|batch-read)|job_status|tasks|failed_tasks|job|trace|view_log|log)?$/;

/**
 * Whether a request reads or writes. Anything not known to be a read is a
 * write, so a route added later is protected until someone says otherwise.
 *
 * @example
 *   accessOf("GET", "/cancel_job"); // "write"
 *   accessOf("POST", "/api/cas/v1/missing"); // "read"
 */
export function accessOf(method: string, path: string): Access {
  if (SLAVE_API.test(path) || isDistTestWrite(path)) return "write";
  if (method === "GET" || method === "HEAD" || method === "OPTIONS") return "read";
  return method === "POST" && READ_ONLY_POSTS.test(path) ? "read" : "write";
}

/** How a request that passed was let in; logged at debug. */
export type Admission = { via: "open" } | { via: "address"; address: string } | { via: "account"; user: string };

type Verdict = { ok: true; user: string } | { ok: false; why: "malformed" | "wrong" | "stale" | "replayed"; user?: string };

/**
 * The one gate in front of a dt server's routes. A read passes unless reads
 * are closed; anything else passes from an allowed address or with an
 * account's HTTP Digest (RFC 7616: realm `dist_test`, qop=auth, MD5 or
 * SHA-256), and is otherwise answered 401 with a challenge, or 403 when the
 * server has no accounts to challenge for.
 *
 * @example
 *   app.use("*", new AuthGuard({ policy, clock, log }).middleware());
 */
export class AuthGuard {
  private readonly nonces: NonceBook;
  private policy: AuthPolicy;
  private windowStartMs = Number.NEGATIVE_INFINITY;
  private logged = 0;
  private suppressed = 0;

  constructor(private readonly options: { policy: AuthPolicy; clock: Clock; log: Logger; nonceTtlMs?: number }) {
    this.nonces = new NonceBook(options.clock, options.nonceTtlMs);
    this.policy = options.policy;
  }

  /**
   * Swaps the policy for the requests that arrive from now on (a config
   * reloaded on SIGHUP); connections stay open and issued nonces stay
   * valid, so clients whose account survived need no new challenge.
   */
  setPolicy(policy: AuthPolicy): void {
    this.policy = policy;
  }

  middleware(): MiddlewareHandler {
    return async (c, next) => {
      const admission = this.admit(c);
      if (admission instanceof Response) return admission;
      if (admission.via === "account") c.set(ADMITTED_USER, admission.user);
      await next();
    };
  }

  /** The admission of a request, or the 401/403 to answer it with. */
  admit(c: Context): Admission | Response {
    // Read once: the whole request is judged by one policy, whatever setPolicy does meanwhile.
    const policy = this.policy;
    const access = accessOf(c.req.method, c.req.path);
    // Health checks (systemd, load balancers) carry no credentials, and the answer tells nothing.
    if (access === "read" && (!policy.readRequiresAuth || c.req.path === "/healthz")) return { via: "open" };
    const what = `${c.req.method} ${JSON.stringify(c.req.path)}`;
    // dt's pages have no forms: a write from a web page is another site (or a rebound DNS name) using the browser's address or cached password.
    if (access === "write" && fromWebPage(c)) {
      this.warn(`refused ${what}: sent by a web page (Origin ${JSON.stringify(c.req.header("origin") ?? "")}, Sec-Fetch-Site ${JSON.stringify(c.req.header("sec-fetch-site") ?? "")})`);
      return refusal(403, `${what}: dt takes writes from its clients, not from web pages`);
    }
    const address = clientAddress(c, policy);
    if (address !== undefined && policy.allowedRanges.has(address)) return { via: "address", address };
    if (policy.accounts.size === 0) {
      this.warn(`refused ${what} from ${address ?? "an unknown address"}: not in allowed_ip_ranges and no accounts exist`);
      return refusal(403, `${what} from ${address ?? "an unknown address"}: this server takes ${access}s only from ${policy.allowedRanges}; ask its operator to add your network to allowed_ip_ranges or to give you an account`);
    }
    const header = c.req.header("authorization");
    if (header === undefined || !/^Digest\s/i.test(header)) return this.challenge(what, false);
    const target = new URL(c.req.url);
    const verdict = this.verify(policy, header, c.req.method, target.pathname + target.search);
    if (verdict.ok) return { via: "account", user: verdict.user };
    if (verdict.why === "wrong" || verdict.why === "replayed") {
      this.warn(`refused ${what} from ${address ?? "an unknown address"}: ${verdict.why === "wrong" ? "wrong user or password" : "a nonce count used before (a replayed request?)"}${verdict.user ? ` for ${JSON.stringify(verdict.user)}` : ""}`);
    }
    return this.challenge(what, verdict.why === "stale");
  }

  /**
   * Refusals are logged, but at most REFUSALS_LOGGED_PER_MINUTE a minute: a
   * client guessing passwords must not fill the disk. The rest are counted
   * and the count is logged with the next minute's first.
   */
  private warn(line: string): void {
    const now = this.options.clock.now();
    if (now - this.windowStartMs >= 60_000) {
      if (this.suppressed > 0) this.options.log.warn(`${this.suppressed} more refusals in the last minute were not logged`);
      this.windowStartMs = now;
      this.logged = 0;
      this.suppressed = 0;
    }
    if (this.logged++ < REFUSALS_LOGGED_PER_MINUTE) this.options.log.warn(line);
    else this.suppressed++;
  }

  private verify(policy: AuthPolicy, header: string, method: string, requestUri: string): Verdict {
    const p = parseAuthParams(header.replace(/^Digest\s+/i, ""));
    const algorithm = (p.algorithm ?? "MD5").toUpperCase();
    const { username, nonce, uri, response, nc, cnonce } = p;
    if (username === undefined || nonce === undefined || uri === undefined || response === undefined || cnonce === undefined || cnonce === "") return { ok: false, why: "malformed" };
    if (p.realm !== REALM || p.qop !== "auth" || nc === undefined || !/^[0-9a-fA-F]{8}$/.test(nc) || !isDigestAlgorithm(algorithm)) return { ok: false, why: "malformed", user: username };
    // The response covers `uri`; it must be this request's, or a response captured for one URL could be replayed to another.
    if (!sameRequestTarget(uri, requestUri)) return { ok: false, why: "malformed", user: username };
    const stored = policy.accounts.get(username)?.[algorithm];
    // An unknown user costs the same hashing as a known one, so timing does not tell which names exist.
    const expected = digestResponse({ algorithm, ha1: stored ?? DUMMY_HA1[algorithm], nonce, nc, cnonce, method, uri });
    const given = Buffer.from(response.toLowerCase());
    const match = given.length === expected.length && timingSafeEqual(given, Buffer.from(expected));
    if (!match || stored === undefined) return { ok: false, why: "wrong", user: username };
    const use = this.nonces.use(nonce, Number.parseInt(nc, 16));
    return use === "ok" ? { ok: true, user: username } : { ok: false, why: use, user: username };
  }

  /**
   * 401 with one challenge per algorithm, SHA-256 first and MD5 last. Bun
   * sends repeated WWW-Authenticate headers as one comma-joined line, and
   * urllib's parser (dist_test's client, which knows only MD5) reads that
   * line as one list of fields where the last `algorithm=` wins: it must be
   * MD5. Clients that parse challenges properly (dt's, curl) see both.
   */
  private challenge(what: string, stale: boolean): Response {
    const res = refusal(401, `${what}: this server needs a user and password (HTTP Digest, realm ${REALM}); set DIST_TEST_USER and DIST_TEST_PASSWORD, or user and password under [dist_test] in the config`);
    const nonce = this.nonces.issue();
    for (const algorithm of CHALLENGE_ORDER) {
      res.headers.append("WWW-Authenticate", `Digest realm="${REALM}", qop="auth", algorithm=${algorithm}, nonce="${nonce}"${stale ? ", stale=true" : ""}`);
    }
    return res;
  }
}

/** Enough to see an attack start and who it comes from; the rest is counted. */
const REFUSALS_LOGGED_PER_MINUTE = 20;

/**
 * A browser marks what a page sends: `Origin` on every POST, and
 * `Sec-Fetch-Site` on everything (`none` when the user typed the URL, which
 * is the user's own doing). dt's clients, dist_test's and curl send neither.
 */
function fromWebPage(c: Context): boolean {
  const site = c.req.header("sec-fetch-site");
  if (site !== undefined && site !== "none") return true;
  return c.req.header("origin") !== undefined;
}

const CHALLENGE_ORDER: readonly DigestAlgorithm[] = ["SHA-256", "MD5"];

const DUMMY_HA1: Record<DigestAlgorithm, string> = { MD5: "0".repeat(32), "SHA-256": "0".repeat(64) };

function refusal(status: 401 | 403, message: string): Response {
  return Response.json({ error: message, code: "unauthorized" }, { status });
}

/**
 * `uri` as the client hashed it: the request-target as sent, or the
 * absolute URL a proxy-minded client sends. Bun normalizes the request's
 * URL (`'` becomes `%27`, `/x/../` goes), so `uri` is normalized the same
 * way before comparing; the hash itself covers `uri` as the client wrote it.
 */
function sameRequestTarget(uri: string, requestUri: string): boolean {
  if (uri === requestUri) return true;
  if (!uri.startsWith("/") && !/^https?:\/\//i.test(uri)) return false;
  try {
    const url = new URL(uri, "http://request.target");
    return url.pathname + url.search === requestUri;
  } catch {
    return false;
  }
}

/**
 * The client's address: the peer's, or, when the peer is a trusted proxy,
 * the right-most X-Forwarded-For entry that is not one (entries to its left
 * are whatever the client chose to send).
 */
function clientAddress(c: Context, policy: AuthPolicy): string | undefined {
  const server = c.env as { requestIP?: (req: Request) => { address: string } | null } | undefined;
  const peer = server?.requestIP?.(c.req.raw)?.address;
  if (peer === undefined || !policy.trustedProxies.has(peer)) return peer;
  const forwarded = (c.req.header("x-forwarded-for") ?? "").split(",").map((s) => s.trim()).filter(Boolean);
  for (let i = forwarded.length - 1; i >= 0; i--) if (!policy.trustedProxies.has(forwarded[i])) return forwarded[i];
  // A trusted proxy that names no client: the client is unknown, never the proxy (often loopback, which may write).
  return undefined;
}
