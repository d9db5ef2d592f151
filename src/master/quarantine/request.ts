/**
 * The body of POST /api/v1/quarantine, checked strictly: an unknown field,
 * a wrong type or a past `until` is a 400 naming the field.
 */
import { DtError } from "../../common/errors.ts";
import { CASE_LIMITS } from "../cases/case-report.ts";
import type { QuarantineRequest } from "../protocol.ts";

/** A reason is a line or two; a page shows it whole. */
export const MAX_REASON_CHARS = 2_000;
/** The created_by column (varchar(64)). */
export const MAX_USER_CHARS = 64;
/**
 * The latest `until`: the end of year 9999. Past it a date has no
 * four-digit year, and past 8.64e15 ms none at all (Date throws), so no
 * client could print the entry.
 */
export const MAX_UNTIL_MS = Date.UTC(9999, 11, 31, 23, 59, 59, 999);
/** A task's description, which a case's binary is, is at most 255 characters. */
export const MAX_BINARY_CHARS = 255;

const FIELDS: ReadonlySet<string> = new Set<keyof QuarantineRequest>(["binary", "suite", "name", "reason", "until", "user"]);

function fail(field: string, problem: string): never {
  throw new DtError("invalid_input", `POST quarantine: ${field}: ${problem}`);
}

function text(value: unknown, field: string, max: number): string {
  if (typeof value !== "string") fail(field, "must be a string");
  if (value === "") fail(field, "must not be empty");
  if (value.length > max) fail(field, `is ${value.length} characters; at most ${max}`);
  if (value.includes("\0")) fail(field, "must not contain NUL");
  if (!value.isWellFormed()) fail(field, "holds a lone UTF-16 surrogate, which is not text");
  return value;
}

/** A checked request: what an add stores, but for created_at and the default reason. */
export interface ValidQuarantineRequest {
  binary: string | null;
  suite: string;
  name: string;
  reason: string | null;
  until: number | null;
  user: string | null;
}

/** Checks a parsed POST body; `now` refuses an `until` already past (the entry would never be active). */
export function validateQuarantineRequest(body: unknown, now: number): ValidQuarantineRequest {
  if (body === null || typeof body !== "object" || Array.isArray(body)) throw new DtError("invalid_input", 'POST quarantine: the body must be a JSON object: {"suite": "...", "name": "...", "reason": "...", "until": EPOCH_MS}');
  const b = body as Record<string, unknown>;
  for (const key of Object.keys(b)) if (!FIELDS.has(key)) fail(JSON.stringify(key.slice(0, 80)), `is not a field (known: ${[...FIELDS].join(", ")})`);
  let until: number | null = null;
  if (b.until !== undefined && b.until !== null) {
    if (typeof b.until !== "number" || !Number.isSafeInteger(b.until) || b.until < 0) fail("until", "must be epoch milliseconds (a non-negative integer) or null");
    if (b.until > MAX_UNTIL_MS) fail("until", `must be at most ${MAX_UNTIL_MS} (the end of year 9999), or null for no end`);
    if (b.until <= now) fail("until", `${new Date(b.until).toISOString()} is not in the future; the entry would never be active`);
    until = b.until;
  }
  return {
    binary: b.binary === undefined || b.binary === null ? null : text(b.binary, "binary", MAX_BINARY_CHARS),
    suite: text(b.suite, "suite", CASE_LIMITS.maxSuiteChars),
    name: text(b.name, "name", CASE_LIMITS.maxNameChars),
    reason: b.reason === undefined || b.reason === null ? null : text(b.reason, "reason", MAX_REASON_CHARS),
    until,
    user: b.user === undefined || b.user === null ? null : text(b.user, "user", MAX_USER_CHARS),
  };
}
