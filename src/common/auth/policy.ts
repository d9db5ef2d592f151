import type { Config } from "../config.ts";
import { DtError } from "../errors.ts";
import { DIGEST_ALGORITHMS, type DigestAlgorithm, ha1, isDigestAlgorithm } from "./digest.ts";
import { IpRanges } from "./ip-ranges.ts";

/** One account's stored secrets: H(user:realm:password) per algorithm it may use. */
export type AccountSecrets = Record<DigestAlgorithm, string>;

/**
 * Who may do what on a dt server (master or isolate server). Writes, and
 * reads when `readRequiresAuth`, pass from an allowed address or with an
 * account's HTTP Digest credentials.
 */
export interface AuthPolicy {
  allowedRanges: IpRanges;
  accounts: ReadonlyMap<string, AccountSecrets>;
  readRequiresAuth: boolean;
  /** Reverse proxies whose X-Forwarded-For is believed; nobody's by default. */
  trustedProxies: IpRanges;
}

/** The policy of a server nobody configured: writes from this host only, reads open. */
export function defaultAuthPolicy(): AuthPolicy {
  return { allowedRanges: IpRanges.loopback(), accounts: new Map(), readRequiresAuth: false, trustedProxies: IpRanges.none() };
}

/**
 * Reads the policy from the `[dist_test]` section, as dist_test's master
 * did, plus dt's keys:
 *
 * - `allowed_ip_ranges`: CIDRs whose clients need no password. Unset, it is
 *   loopback only, and nothing at all once accounts exist, so a fresh
 *   master is not open to the network (dist_test's default was 0.0.0.0/0;
 *   write that to have it back).
 * - `accounts = {"user": "password"}`: dist_test's form.
 * - `account_digests = {"user": {"MD5": "<hex>", "SHA-256": "<hex>"}}`:
 *   H(user:dist_test:password) instead of the password (`dt account-digest`
 *   prints them), so the config file does not hold passwords.
 * - `read_requires_auth = true`: reads need the same as writes.
 * - `trusted_proxies`: CIDRs of TLS-terminating proxies in front.
 */
export function loadAuthPolicy(config: Config): AuthPolicy {
  const accounts = new Map<string, AccountSecrets>();
  const plain = jsonObject(config.fileValue("dist_test", "accounts"), "accounts", '{"alice": "password"}');
  for (const [user, password] of Object.entries(plain)) {
    checkUser(user, "accounts");
    if (typeof password !== "string" || password === "") throw new DtError("invalid_input", `accounts.${user}: the password must be a non-empty string`);
    accounts.set(user, accountSecretsOf(user, password));
  }
  const digests = jsonObject(config.fileValue("dist_test", "account_digests"), "account_digests", '{"alice": {"MD5": "<32 hex>", "SHA-256": "<64 hex>"}}');
  for (const [user, secrets] of Object.entries(digests)) {
    checkUser(user, "account_digests");
    if (accounts.has(user)) throw new DtError("invalid_input", `user ${JSON.stringify(user)} is in both accounts and account_digests; keep one`);
    accounts.set(user, accountSecrets(user, secrets));
  }
  const ranges = config.resolve("allowedIpRanges");
  return {
    allowedRanges:
      ranges.value !== undefined ? IpRanges.parse(ranges.value, `allowed_ip_ranges (from the ${ranges.source})`) : accounts.size > 0 ? IpRanges.none() : IpRanges.loopback(),
    accounts,
    readRequiresAuth: booleanSetting(config, "readRequiresAuth", "read_requires_auth"),
    trustedProxies: IpRanges.parse(config.get("trustedProxies") ?? "", "trusted_proxies"),
  };
}

/** What a server keeps of an account instead of its password: H(user:dist_test:password) for each algorithm. */
export function accountSecretsOf(user: string, password: string): AccountSecrets {
  return { MD5: ha1("MD5", user, password), "SHA-256": ha1("SHA-256", user, password) };
}

/** One line for the start-up log: who may write and read. */
export function describeAuthPolicy(policy: AuthPolicy): string {
  const accounts = policy.accounts.size === 0 ? "no accounts" : `${policy.accounts.size} account${policy.accounts.size === 1 ? "" : "s"} (HTTP Digest)`;
  const writers = `writes from ${policy.allowedRanges.empty ? "no address without a password" : policy.allowedRanges}, ${accounts}`;
  return `${writers}; reads ${policy.readRequiresAuth ? "need the same" : "open to all"}`;
}

const HEX_LENGTH: Record<DigestAlgorithm, number> = { MD5: 32, "SHA-256": 64 };

function accountSecrets(user: string, value: unknown): AccountSecrets {
  const where = `account_digests.${user}`;
  if (value === null || typeof value !== "object" || Array.isArray(value)) throw new DtError("invalid_input", `${where} must be an object such as {"MD5": "<hex>", "SHA-256": "<hex>"}`);
  const secrets: Partial<AccountSecrets> = {};
  for (const [algorithm, hex] of Object.entries(value)) {
    if (!isDigestAlgorithm(algorithm)) throw new DtError("invalid_input", `${where}.${algorithm}: the algorithm must be MD5 or SHA-256`);
    if (typeof hex !== "string" || !new RegExp(`^[0-9a-f]{${HEX_LENGTH[algorithm]}}$`).test(hex)) {
      throw new DtError("invalid_input", `${where}.${algorithm} must be ${HEX_LENGTH[algorithm]} lower-case hex digits; print it with dt account-digest ${user}`);
    }
    secrets[algorithm] = hex;
  }
  // The server offers both before it knows the user, and each client picks one (dt's takes SHA-256, curl and dist_test's client MD5).
  const missing = DIGEST_ALGORITHMS.filter((a) => secrets[a] === undefined);
  if (missing.length > 0) throw new DtError("invalid_input", `${where} lacks ${missing.join(" and ")}: give both MD5 and SHA-256, as dt account-digest ${user} prints them (clients choose the algorithm)`);
  return secrets as AccountSecrets;
}

function jsonObject(text: string | undefined, key: string, example: string): Record<string, unknown> {
  if (text === undefined || text.trim() === "") return {};
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    // Not the parser's message: it quotes the text it choked on, which may be a password.
    throw new DtError("invalid_input", `${key} under [dist_test] is not valid JSON (quote every name and password); write e.g. ${key} = ${example}`, { cause: err });
  }
  if (value === null || typeof value !== "object" || Array.isArray(value)) throw new DtError("invalid_input", `${key} under [dist_test] must be a JSON object, e.g. ${example}`);
  return value as Record<string, unknown>;
}

/** User names go into Digest headers and logs: no quotes, colons or control characters. */
export function checkUser(user: string, key: string): void {
  if (!/^[A-Za-z0-9._@+-]{1,64}$/.test(user)) throw new DtError("invalid_input", `${key}: user ${JSON.stringify(user)} must be 1-64 characters of letters, digits and ._@+-`);
}

function booleanSetting(config: Config, name: "readRequiresAuth", key: string): boolean {
  const { value, source } = config.resolve(name);
  if (value === undefined) return false;
  const v = value.trim().toLowerCase();
  if (["true", "yes", "1", "on"].includes(v)) return true;
  if (["false", "no", "0", "off"].includes(v)) return false;
  throw new DtError("invalid_input", `${key} (from the ${source}) must be true or false, got ${JSON.stringify(value)}`);
}
