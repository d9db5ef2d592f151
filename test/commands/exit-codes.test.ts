import { expect, test } from "bun:test";
import { EXIT, exitCodeOf } from "../../src/commands/exit-codes.ts";
import { DtError, type DtErrorCode } from "../../src/common/errors.ts";

test("every error code maps to its documented exit code", () => {
  expect(exitCodeOf(new DtError("invalid_input", "x"))).toBe(2);
  expect(exitCodeOf(new DtError("not_found", "x"))).toBe(3);
  expect(exitCodeOf(new DtError("unreachable", "x"))).toBe(4);
  expect(exitCodeOf(new DtError("internal", "x"))).toBe(EXIT.internal);
});

test("an error that is not a DtError, or has a code dt does not know, is never exit 0", () => {
  expect(exitCodeOf(new Error("boom"))).toBe(EXIT.internal);
  expect(exitCodeOf(new DtError("quota" as DtErrorCode, "x"))).toBe(EXIT.internal);
});
