/**
 * dt's one error type. Every failure a user can act on is a `DtError` with a
 * stable `code`; only `src/commands/` turns it into an exit code and a message.
 *
 * @example
 *   throw new DtError("not_found", `file listed in ${isolatePath} does not exist: ${p}`);
 */
export type DtErrorCode =
  /** The user's input (flags, files, request bodies) is wrong. */
  | "invalid_input"
  /** Something the input names does not exist (a file, a blob, a manifest). */
  | "not_found"
  /** Content did not hash to the digest it claimed. */
  | "digest_mismatch"
  /** A server could not be reached or answered with an error. */
  | "unreachable"
  /** A request or file is larger than allowed. */
  | "too_large"
  /** A local resource ran out (disk space, cache capacity). */
  | "no_space"
  /** Credentials are missing or wrong, or this address may not do this. */
  | "unauthorized"
  /** A bug or an unexpected state in dt itself. */
  | "internal";

const CODES: ReadonlySet<string> = new Set<DtErrorCode>(["invalid_input", "not_found", "digest_mismatch", "unreachable", "too_large", "no_space", "unauthorized", "internal"]);

/** True for one of dt's error codes; a server's answer is checked with this before it is trusted. */
export function isDtErrorCode(value: unknown): value is DtErrorCode {
  return typeof value === "string" && CODES.has(value);
}

export class DtError extends Error {
  readonly code: DtErrorCode;
  constructor(code: DtErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "DtError";
    this.code = code;
  }
}

/** True for a DtError of the given code (or any code when none is given). */
export function isDtError(err: unknown, code?: DtErrorCode): err is DtError {
  return err instanceof DtError && (code === undefined || err.code === code);
}

/** The errno code (`ENOENT`, `EXDEV`, …) of a Node/Bun system error, if any. */
export function errnoCode(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === "string" ? code : undefined;
}
