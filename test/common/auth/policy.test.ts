import { afterEach, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { ha1 } from "../../../src/common/auth/digest.ts";
import { IpRanges } from "../../../src/common/auth/ip-ranges.ts";
import { describeAuthPolicy, loadAuthPolicy } from "../../../src/common/auth/policy.ts";
import { Config } from "../../../src/common/config.ts";
import { TempDirs } from "../../helpers/temp.ts";

const temps = new TempDirs();
afterEach(() => temps.cleanup());

async function configWith(text: string, env: Record<string, string> = {}): Promise<Config> {
  const dir = await temps.make("dt-auth-policy-");
  const path = join(dir, "dt.cnf");
  writeFileSync(path, text);
  return Config.load({ DIST_TEST_CNF: path, HOME: dir, ...env });
}

test("IPv4 and IPv6 ranges, bare addresses, and IPv4 clients on IPv6 sockets", () => {
  const ranges = IpRanges.parse("10.0.0.0/8, fd00::/8 192.168.1.7", "allowed_ip_ranges");
  expect(ranges.has("10.200.0.1")).toBe(true);
  expect(ranges.has("::ffff:10.200.0.1")).toBe(true);
  expect(ranges.has("11.0.0.1")).toBe(false);
  expect(ranges.has("fd12::1")).toBe(true);
  expect(ranges.has("fe80::1")).toBe(false);
  expect(ranges.has("192.168.1.7")).toBe(true);
  expect(ranges.has("192.168.1.8")).toBe(false);
  expect(ranges.has("not an address")).toBe(false);
  expect(ranges.has(undefined)).toBe(false);
  for (const bad of ["10.0.0.0/33", "10.0.0/8", "fd00::/129", "10.0.0.0/8/1", "host.example", "10.0.0.0/-1", "10.0.0.0/ 8x"]) {
    expect(() => IpRanges.parse(bad, "allowed_ip_ranges")).toThrow(/allowed_ip_ranges: .* is not an address or CIDR range/);
  }
});

test("nothing configured: writes from loopback only, reads open", async () => {
  const policy = loadAuthPolicy(await configWith("[dist_test]\nmaster = http://m:8081\n"));
  expect(policy.allowedRanges.has("127.0.0.1")).toBe(true);
  expect(policy.allowedRanges.has("127.0.0.2")).toBe(true);
  expect(policy.allowedRanges.has("::1")).toBe(true);
  expect(policy.allowedRanges.has("10.0.0.1")).toBe(false);
  expect(policy.accounts.size).toBe(0);
  expect(policy.readRequiresAuth).toBe(false);
  expect(describeAuthPolicy(policy)).toBe("writes from 127.0.0.0/8, ::1/128, no accounts; reads open to all");
});

test("accounts without ranges: no address passes without a password, loopback included", async () => {
  const policy = loadAuthPolicy(await configWith('[dist_test]\naccounts = {"alice": "s3cret"}\n'));
  expect(policy.allowedRanges.has("127.0.0.1")).toBe(false);
  expect(policy.accounts.get("alice")).toEqual({ MD5: ha1("MD5", "alice", "s3cret"), "SHA-256": ha1("SHA-256", "alice", "s3cret") });
});

test("dist_test's keys and dt's: ranges, plain and digested accounts, closed reads; env overrides the file", async () => {
  const bob = { MD5: ha1("MD5", "bob", "hunter2"), "SHA-256": ha1("SHA-256", "bob", "hunter2") };
  const config = await configWith(
    `[dist_test]\nallowed_ip_ranges = 10.0.0.0/8\naccounts = {"alice": "s3cret"}\naccount_digests = {"bob": ${JSON.stringify(bob)}}\nread_requires_auth = true\ntrusted_proxies = 127.0.0.1\n`,
    { DT_ALLOWED_IP_RANGES: "192.168.0.0/16" },
  );
  const policy = loadAuthPolicy(config);
  expect(policy.allowedRanges.toString()).toBe("192.168.0.0/16");
  expect(policy.accounts.get("bob")).toEqual(bob);
  expect([...policy.accounts.keys()]).toEqual(["alice", "bob"]);
  expect(policy.readRequiresAuth).toBe(true);
  expect(policy.trustedProxies.has("127.0.0.1")).toBe(true);
});

test("a bad setting is an error naming the key and what to write", async () => {
  const cases: [string, RegExp][] = [
    ["accounts = {alice: pw}", /accounts under \[dist_test\] is not valid JSON .*write e\.g\. accounts = \{"alice": "password"\}/],
    ['accounts = ["alice"]', /accounts under \[dist_test\] must be a JSON object/],
    ['accounts = {"alice": ""}', /accounts\.alice: the password must be a non-empty string/],
    ['accounts = {"al:ice": "pw"}', /accounts: user "al:ice" must be 1-64 characters/],
    ['account_digests = {"bob": {"MD5": "xyz"}}', /account_digests\.bob\.MD5 must be 32 lower-case hex digits; print it with dt account-digest bob/],
    ['account_digests = {"bob": {"SHA-1": "00"}}', /account_digests\.bob\.SHA-1: the algorithm must be MD5 or SHA-256/],
    ['account_digests = {"bob": {}}', /account_digests\.bob lacks MD5 and SHA-256: give both/],
    [`account_digests = {"bob": {"MD5": "${"0".repeat(32)}"}}`, /account_digests\.bob lacks SHA-256: give both MD5 and SHA-256, as dt account-digest bob prints them/],
    [`accounts = {"bob": "pw"}\naccount_digests = {"bob": {"MD5": "${"0".repeat(32)}"}}`, /user "bob" is in both accounts and account_digests/],
    ["allowed_ip_ranges = 10.0.0.0/40", /allowed_ip_ranges \(from the file\): "10\.0\.0\.0\/40" is not an address or CIDR range/],
    ["read_requires_auth = maybe", /read_requires_auth \(from the file\) must be true or false, got "maybe"/],
  ];
  // An unquoted password must not be echoed by the error (the parser's own message would quote it).
  const unquoted = await configWith('[dist_test]\naccounts = {"ci": hunter2}\n');
  expect(() => loadAuthPolicy(unquoted)).toThrow(/quote every name and password/);
  expect(() => loadAuthPolicy(unquoted)).not.toThrow(/hunter2/);
  for (const [line, message] of cases) {
    const config = await configWith(`[dist_test]\n${line}\n`);
    expect(() => loadAuthPolicy(config)).toThrow(message);
  }
});
