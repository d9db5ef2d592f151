import { createHash } from "node:crypto";

/**
 * A test's identity (binary, suite, name) in 32 hex digits: the first 128
 * bits of SHA-256 over the three, NUL-separated (none may hold a NUL). Keys
 * the history index and the merge of a case's runs in a job; 128 bits make a
 * collision among billions of tests negligible.
 *
 * @example caseKey("gtest_unittest", "ExpectTest", "ExpectPrecedence") // "5f1e…" (32 hex digits)
 */
export function caseKey(binary: string, suite: string, name: string): string {
  return createHash("sha256").update(`${binary}\0${suite}\0${name}`).digest("hex").slice(0, 32);
}
