import { randomBytes } from "node:crypto";
import { type DigestAlgorithm, REALM, digestChallenges, digestResponse, ha1, quoteAuthParam } from "./digest.ts";

export interface Credentials {
  user: string;
  password: string;
}

/** The challenge a server last sent, reused for later requests with a rising nonce count. */
interface Session {
  nonce: string;
  algorithm: DigestAlgorithm;
  opaque: string | undefined;
  ha1: string;
  nc: number;
}

/** Stronger first: a client picks SHA-256 whenever the server offers it. */
const PREFERENCE: readonly DigestAlgorithm[] = ["SHA-256", "MD5"];

/**
 * A fetch that answers HTTP Digest challenges with `credentials` (RFC 7616,
 * qop=auth, SHA-256 when offered, else MD5). After the first challenge from
 * a server it sends the Authorization header up front with the next nonce
 * count, so a client pays one extra round trip per nonce lifetime rather
 * than one per request; a 401 (a stale nonce, a restarted server) is
 * answered once with the new challenge. Request bodies must be resendable
 * (strings, bytes, Blobs, files): dt's clients send nothing else.
 *
 * Only dt's challenge is answered (realm `dist_test`), and with `origins`
 * only from those servers: a response is a hash of the password that a
 * hostile server could try to crack, so it goes nowhere else. Basic, which
 * would send the password itself, is never answered.
 *
 * @example
 *   const cas = new CasClient(url, { fetch: digestFetch({ user: "ci", password }, fetch, [new URL(url).origin]) });
 */
export function digestFetch(credentials: Credentials, inner: typeof fetch = fetch, origins?: readonly string[]): typeof fetch {
  const sessions = new Map<string, Session>();
  const authorized = (init: RequestInit | undefined, header: string | undefined): RequestInit => {
    if (header === undefined) return init ?? {};
    const headers = new Headers(init?.headers);
    headers.set("Authorization", header);
    return { ...init, headers };
  };
  const call = async (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
    if (input instanceof Request) return inner(input, init);
    const url = new URL(input);
    const method = (init?.method ?? "GET").toUpperCase();
    const known = sessions.get(url.origin);
    const res = await inner(url, authorized(init, known && nextAuthorization(known, credentials, method, url)));
    if (res.status !== 401 || init?.body instanceof ReadableStream || (origins && !origins.includes(url.origin))) return res;
    const header = answer(res.headers, credentials, url, method, sessions);
    if (header === undefined) return res;
    await res.body?.cancel();
    return inner(url, authorized(init, header));
  };
  return Object.assign(call, { preconnect: fetch.preconnect }) as typeof fetch;
}

/** The Authorization header answering a 401's challenge (remembering a Digest one for later requests), or undefined if none can be answered. */
function answer(headers: Headers, credentials: Credentials, url: URL, method: string, sessions: Map<string, Session>): string | undefined {
  const offered = digestChallenges(headers).filter((c) => c.nonce !== undefined && c.realm === REALM && (c.qop === undefined || c.qop.split(",").some((q) => q.trim() === "auth")));
  for (const algorithm of PREFERENCE) {
    const challenge = offered.find((c) => (c.algorithm ?? "MD5").toUpperCase() === algorithm);
    if (!challenge) continue;
    const session: Session = { nonce: challenge.nonce!, algorithm, opaque: challenge.opaque, ha1: ha1(algorithm, credentials.user, credentials.password), nc: 0 };
    sessions.set(url.origin, session);
    return nextAuthorization(session, credentials, method, url);
  }
  return undefined;
}

function nextAuthorization(session: Session, credentials: Credentials, method: string, url: URL): string {
  session.nc += 1;
  const nc = session.nc.toString(16).padStart(8, "0");
  const cnonce = randomBytes(8).toString("hex");
  const uri = url.pathname + url.search;
  const response = digestResponse({ algorithm: session.algorithm, ha1: session.ha1, nonce: session.nonce, nc, cnonce, method, uri });
  const fields = [
    `username=${quoteAuthParam(credentials.user)}`,
    `realm=${quoteAuthParam(REALM)}`,
    `nonce=${quoteAuthParam(session.nonce)}`,
    `uri=${quoteAuthParam(uri)}`,
    `algorithm=${session.algorithm}`,
    `response=${quoteAuthParam(response)}`,
    "qop=auth",
    `nc=${nc}`,
    `cnonce=${quoteAuthParam(cnonce)}`,
  ];
  if (session.opaque !== undefined) fields.push(`opaque=${quoteAuthParam(session.opaque)}`);
  return `Digest ${fields.join(", ")}`;
}
