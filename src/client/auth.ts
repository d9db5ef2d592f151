import { createHash, randomBytes } from "node:crypto";

export interface Credentials {
  user: string;
  password: string;
}

/**
 * The Authorization header answering a 401's `WWW-Authenticate` challenge,
 * or undefined for a scheme dt does not speak. dist_test's master asks for
 * HTTP Digest (realm `dist_test`, qop `auth`, MD5), as urllib2 answered it;
 * Basic is accepted for a master behind a proxy that wants it.
 *
 * @example
 *   const header = authorization(res.headers.get("www-authenticate")!, creds, "POST", "/api/v1/jobs");
 */
export function authorization(challenge: string, creds: Credentials, method: string, uri: string, cnonce = randomBytes(8).toString("hex")): string | undefined {
  const scheme = challenge.trim().split(/\s+/, 1)[0]!.toLowerCase();
  if (scheme === "basic") return `Basic ${Buffer.from(`${creds.user}:${creds.password}`).toString("base64")}`;
  if (scheme !== "digest") return undefined;
  const params = parseChallenge(challenge.trim().slice(scheme.length));
  const realm = params.realm ?? "";
  const nonce = params.nonce ?? "";
  const algorithm = (params.algorithm ?? "MD5").toUpperCase();
  const hashName = algorithm.startsWith("SHA-256") ? "sha256" : algorithm.startsWith("MD5") ? "md5" : undefined;
  if (!hashName) return undefined;
  const h = (text: string) => createHash(hashName).update(text).digest("hex");
  let ha1 = h(`${creds.user}:${realm}:${creds.password}`);
  if (algorithm.endsWith("-SESS")) ha1 = h(`${ha1}:${nonce}:${cnonce}`);
  const ha2 = h(`${method}:${uri}`);
  const qops = (params.qop ?? "").split(",").map((q) => q.trim());
  // One request per challenge, so the nonce count is always 1.
  const nc = "00000001";
  const qop = qops.includes("auth") ? "auth" : undefined;
  const response = qop ? h(`${ha1}:${nonce}:${nc}:${cnonce}:${qop}:${ha2}`) : h(`${ha1}:${nonce}:${ha2}`);
  const fields = [`username=${quote(creds.user)}`, `realm=${quote(realm)}`, `nonce=${quote(nonce)}`, `uri=${quote(uri)}`, `algorithm=${algorithm}`, `response=${quote(response)}`];
  if (params.opaque !== undefined) fields.push(`opaque=${quote(params.opaque)}`);
  if (qop) fields.push(`qop=${qop}`, `nc=${nc}`, `cnonce=${quote(cnonce)}`);
  return `Digest ${fields.join(", ")}`;
}

/** `key=value` and `key="quoted, value"` pairs, keys lower-cased. */
function parseChallenge(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  const re = /([A-Za-z0-9_-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]*))/g;
  for (const m of text.matchAll(re)) out[m[1]!.toLowerCase()] = m[2] !== undefined ? m[2].replace(/\\(.)/g, "$1") : m[3]!;
  return out;
}

function quote(value: string): string {
  return `"${value.replace(/["\\]/g, "\\$&")}"`;
}
