import { createHash } from "node:crypto";

const sha256Hex = (text: string) => createHash("sha256").update(text).digest("hex");

/**
 * A test's identity (binary, suite, name) in 32 hex digits: 8 of the
 * binary's SHA-256, 8 of the suite's, then 16 of the three together
 * (NUL-separated; none may hold a NUL). Keys the history index and the merge
 * of a case's runs in a job. The prefixes keep one suite's cases together in
 * those indexes, so a report's rows land on a few index pages rather than
 * one page each (4 times faster to store on SQLite, measured); the last 64
 * bits tell the cases of one suite apart, with a collision among a suite's
 * cases as likely as one in 2^64 / n².
 *
 * @example caseKey("gtest_unittest", "ExpectTest", "ExpectPrecedence") // 32 hex digits
 */
export function caseKey(binary: string, suite: string, name: string): string {
  return caseKeyer(binary)(suite, name);
}

/** caseKey for many cases of one binary: the binary's and each suite's hash computed once. */
export function caseKeyer(binary: string): (suite: string, name: string) => string {
  const binaryPart = sha256Hex(binary).slice(0, 8);
  const suites = new Map<string, string>();
  return (suite, name) => {
    let prefix = suites.get(suite);
    if (prefix === undefined) suites.set(suite, (prefix = binaryPart + sha256Hex(suite).slice(0, 8)));
    return prefix + sha256Hex(`${binary}\0${suite}\0${name}`).slice(0, 16);
  };
}
