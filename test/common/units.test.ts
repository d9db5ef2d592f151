import { expect, test } from "bun:test";
import { formatBytes, parseDuration, parseSize } from "../../src/common/units.ts";

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
