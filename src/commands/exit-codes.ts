import { DtError, type DtErrorCode } from "../common/errors.ts";

/**
 * dt's exit codes. 88 for failed tests is dist_test's and CI pipelines rely
 * on it; the others tell a script what kind of trouble dt itself had.
 */
export const EXIT = {
  ok: 0,
  /** A task failed (dist_test's convention; used by submit and watch). */
  testsFailed: 88,
  /** run-isolated: dt could not run the task (server down, blob missing, disk full); not the test's fault. */
  internalFailure: 86,
  invalidInput: 2,
  notFound: 3,
  unreachable: 4,
  digestMismatch: 5,
  tooLarge: 6,
  noSpace: 7,
  /** The server refused this client's credentials or address. */
  unauthorized: 8,
  /** Canceled by SIGINT/SIGTERM before the work ran (the shell's 128 + SIGINT). */
  interrupted: 130,
  /** A bug in dt (EX_SOFTWARE). */
  internal: 70,
} as const;

const EXIT_OF_CODE: Record<DtErrorCode, number> = {
  invalid_input: EXIT.invalidInput,
  not_found: EXIT.notFound,
  unreachable: EXIT.unreachable,
  digest_mismatch: EXIT.digestMismatch,
  too_large: EXIT.tooLarge,
  no_space: EXIT.noSpace,
  unauthorized: EXIT.unauthorized,
  internal: EXIT.internal,
};

export function exitCodeOf(err: unknown): number {
  return (err instanceof DtError ? EXIT_OF_CODE[err.code] : undefined) ?? EXIT.internal;
}
