/**
 * LiveLogs keeps the sizes of logs it appended to in memory: appends by
 * offset stay exact (a retried chunk skipped, a gap refused) whether the
 * size comes from memory, from the disk after it was forgotten, or from
 * the disk after a restart.
 */
import { afterAll, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { LiveLogs } from "../../src/master/artifacts/live-logs.ts";
import { TempDirs } from "../helpers/temp.ts";

const temps = new TempDirs();
afterAll(() => temps.cleanup());
const bytes = (s: string) => new TextEncoder().encode(s);

test("appends by offset: a retried chunk is written once, a gap refused, across forgetting and a restart", async () => {
  const dir = await temps.make();
  // Remembers one size: appends to two logs in turn read each one's size from the disk again.
  const logs = new LiveLogs(dir, 1);
  expect(logs.size("j.t.0.stdout")).toBe(0);
  expect(logs.append("j.t.0.stdout", 0, bytes("abc"))).toBe(3);
  expect(logs.append("j.t.0.stderr", 0, bytes("E1"))).toBe(2);
  // Retried with more: only the new bytes go in.
  expect(logs.append("j.t.0.stdout", 1, bytes("bcde"))).toBe(5);
  expect(logs.append("j.t.0.stderr", 2, bytes("E2"))).toBe(4);
  // Fully retried: nothing written.
  expect(logs.append("j.t.0.stdout", 0, bytes("abcde"))).toBe(5);
  expect(() => logs.append("j.t.0.stdout", 6, bytes("x"))).toThrow(/resend from 5/);
  const again = new LiveLogs(dir);
  expect(again.size("j.t.0.stdout")).toBe(5);
  expect(again.append("j.t.0.stdout", 5, bytes("f"))).toBe(6);
  expect(again.append("j.t.0.stdout", 6, bytes("g"))).toBe(7);
  expect(readFileSync(join(dir, "j.t.0.stdout"), "utf8")).toBe("abcdefg");
  expect(readFileSync(join(dir, "j.t.0.stderr"), "utf8")).toBe("E1E2");
  expect(new TextDecoder().decode(again.read("j.t.0.stdout", 2).bytes)).toBe("cdefg");
  expect(() => again.size("../escape")).toThrow(/not a valid key/);
});
