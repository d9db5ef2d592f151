import { createHash } from "node:crypto";

/**
 * The arithmetic of HTTP Digest (RFC 7616), shared by the server that checks
 * responses and the clients that compute them.
 */

/** dist_test's realm; its Python client and every existing config hash with it. */
export const REALM = "dist_test";

/** The algorithms dt speaks, strongest last: MD5 for dist_test's urllib2 client and curl's default, SHA-256 for clients that can. */
export const DIGEST_ALGORITHMS = ["MD5", "SHA-256"] as const;
export type DigestAlgorithm = (typeof DIGEST_ALGORITHMS)[number];

const HASH_OF: Record<DigestAlgorithm, string> = { MD5: "md5", "SHA-256": "sha256" };

export function isDigestAlgorithm(value: string): value is DigestAlgorithm {
  return (DIGEST_ALGORITHMS as readonly string[]).includes(value);
}

export function digestHash(algorithm: DigestAlgorithm, text: string): string {
  return createHash(HASH_OF[algorithm]).update(text).digest("hex");
}

/** H(user:realm:password): what a server may store instead of the password. */
export function ha1(algorithm: DigestAlgorithm, user: string, password: string, realm = REALM): string {
  return digestHash(algorithm, `${user}:${realm}:${password}`);
}

/** The fields of a qop=auth response that the hash covers. */
export interface DigestResponseInput {
  algorithm: DigestAlgorithm;
  ha1: string;
  nonce: string;
  nc: string;
  cnonce: string;
  method: string;
  uri: string;
}

/** KD(HA1, nonce:nc:cnonce:auth:H(method:uri)), RFC 7616 section 3.4.1 with qop=auth. */
export function digestResponse(input: DigestResponseInput): string {
  const ha2 = digestHash(input.algorithm, `${input.method}:${input.uri}`);
  return digestHash(input.algorithm, `${input.ha1}:${input.nonce}:${input.nc}:${input.cnonce}:auth:${ha2}`);
}

/**
 * The `key=value` and `key="quoted, value"` pairs of a challenge or an
 * Authorization header after its scheme, keys lower-cased. Unparseable text
 * is skipped, never thrown on: the caller checks the fields it needs.
 */
export function parseAuthParams(text: string): Record<string, string> {
  const out: Record<string, string> = Object.create(null);
  const re = /([A-Za-z0-9_-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,"]*))/g;
  for (const m of text.matchAll(re)) {
    const key = m[1]!.toLowerCase();
    // A repeated field is a malformed header; the first one stands, so a later copy cannot override it.
    if (!(key in out)) out[key] = m[2] !== undefined ? m[2].replace(/\\(.)/g, "$1") : m[3]!;
  }
  return out;
}

/** A quoted-string, escaping `"` and `\`. */
export function quoteAuthParam(value: string): string {
  return `"${value.replace(/["\\]/g, "\\$&")}"`;
}

/**
 * The Digest challenges of a 401. fetch's Headers joins repeated
 * WWW-Authenticate headers with ", ", and a server may also list several
 * challenges in one header, so each scheme token starts a new challenge.
 */
export function digestChallenges(headers: Headers): Record<string, string>[] {
  const value = headers.get("www-authenticate") ?? "";
  const challenges: Record<string, string>[] = [];
  for (const part of value.split(/,\s*(?=(?:Digest|Basic|Bearer|Negotiate)\s)/i)) {
    const m = /^\s*Digest\s+(.*)$/is.exec(part);
    if (m) challenges.push(parseAuthParams(m[1]!));
  }
  return challenges;
}
