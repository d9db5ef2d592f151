import { expect, test } from "bun:test";
import { untilOf } from "../../src/client/quarantine-args.ts";
import { formatBytes, parseDuration, parseIsoDate, parseSince, parseSize } from "../../src/common/units.ts";

test("parseSize reads decimal and binary units", () => {
  expect(parseSize("500", "x")).toBe(500);
  expect(parseSize("10MB", "x")).toBe(10_000_000);
  expect(parseSize("10MiB", "x")).toBe(10 * 2 ** 20);
  expect(parseSize("1.5G", "x")).toBe(1_500_000_000);
  expect(parseSize("2 gib", "x")).toBe(2 * 2 ** 30);
});

test("parseSize names the flag and the bad value", () => {
  expect(() => parseSize("ten", "--max-size")).toThrow('--max-size: cannot read "ten"');
  expect(() => parseSize("10XB", "--max-size")).toThrow("--max-size");
  expect(() => parseSize("-1", "--max-size")).toThrow("--max-size");
});

test("parseDuration reads units and combinations", () => {
  expect(parseDuration("30", "x")).toBe(30_000);
  expect(parseDuration("500ms", "x")).toBe(500);
  expect(parseDuration("5m", "x")).toBe(300_000);
  expect(parseDuration("1h30m", "x")).toBe(5_400_000);
  expect(parseDuration("7d", "x")).toBe(7 * 86_400_000);
});

test("parseDuration refuses what it cannot read", () => {
  expect(() => parseDuration("soon", "--min-age")).toThrow("--min-age");
  expect(() => parseDuration("5 weeks", "--min-age")).toThrow("--min-age");
  expect(() => parseDuration("", "--min-age")).toThrow("--min-age");
});

test("formatBytes", () => {
  expect(formatBytes(512)).toBe("512 B");
  expect(formatBytes(1536)).toBe("1.5 KiB");
  expect(formatBytes(3 * 2 ** 30)).toBe("3.0 GiB");
});

test("parseSince reads a duration back from now, epoch ms, or an ISO date (UTC unless zoned)", () => {
  const now = 1_700_000_000_000;
  expect(parseSince("7d", "since", now)).toBe(now - 7 * 86_400_000);
  expect(parseSince(" 1h30m ", "since", now)).toBe(now - 5_400_000);
  expect(parseSince("1699999999000", "since", now)).toBe(1_699_999_999_000);
  expect(parseSince("0", "since", now)).toBe(0);
  expect(parseSince("2024-01-02", "since", now)).toBe(Date.UTC(2024, 0, 2));
  expect(parseSince("2024-01-02T15:04", "since", now)).toBe(Date.UTC(2024, 0, 2, 15, 4));
  expect(parseSince("2024-01-02T15:04:05.5Z", "since", now)).toBe(Date.UTC(2024, 0, 2, 15, 4, 5, 500));
  expect(parseSince("2024-01-02T15:04:05+02:00", "since", now)).toBe(Date.UTC(2024, 0, 2, 13, 4, 5));
  // Further back than 1970 is 1970.
  expect(parseSince("100000d", "since", now)).toBe(0);
});

test("parseSince refuses what it cannot read, naming the input and what to write", () => {
  for (const bad of ["", "soon", "d", "-7d", "7 weeks", "2024-02-31", "2024-13-01", "2024-01-02T25:00", "02/01/2024", "99999999999999999999", "1e3", "7d; DROP TABLE cases", "NaN"]) {
    expect(() => parseSince(bad, "--since", 1_700_000_000_000), bad).toThrow(/--since: cannot read .* write a duration back from now \(7d/);
  }
  expect(() => parseSince("9".repeat(400) + "d", "--since", 0)).toThrow("--since");
});

test("dt quarantine's --until reads dates as dt flaky's --since does: UTC without a zone, no day that does not exist", () => {
  const now = Date.parse("2026-12-07T00:00:00Z");
  expect(untilOf("2026-12-31", now)).toBe(Date.parse("2026-12-31T00:00:00Z"));
  expect(untilOf("2026-12-31T18:00", now)).toBe(Date.parse("2026-12-31T18:00:00Z"));
  expect(untilOf("2026-12-31T18:00:00+02:00", now)).toBe(Date.parse("2026-12-31T16:00:00Z"));
  expect(untilOf("7d", now)).toBe(now + 7 * 86_400_000);
  expect(() => untilOf("2027-02-31", now)).toThrow(/not a date/);
  expect(() => untilOf("2026-01-01", now)).toThrow(/in the past/);
  expect(parseIsoDate("2024-02-30")).toBeNull();
  expect(parseIsoDate("yesterday")).toBeNull();
});
