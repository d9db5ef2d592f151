import { afterEach, expect, test } from "bun:test";
import { existsSync, readFileSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { strToU8, zipSync } from "fflate";
import { extractZip } from "../../src/client/unzip.ts";
import { TempDirs } from "../helpers/temp.ts";

const temps = new TempDirs();
afterEach(() => temps.cleanup());

test("extracts nested files and directories, keeping permission bits and nothing more", async () => {
  const dir = await temps.make();
  const zip = zipSync({
    "build/debug/test-logs/": {},
    "build/debug/test-logs/foo.txt": strToU8("log"),
    "run.sh": [strToU8("#!/bin/sh\n"), { os: 3, attrs: 0o104755 << 16 }],
    "big.bin": [new Uint8Array(100_000).fill(7), { level: 9 }],
    "stored.txt": [strToU8("as is"), { level: 0 }],
  });
  expect(extractZip(zip, join(dir, "out"), "a.zip")).toBe(4);
  expect(readFileSync(join(dir, "out/build/debug/test-logs/foo.txt"), "utf8")).toBe("log");
  expect(readFileSync(join(dir, "out/stored.txt"), "utf8")).toBe("as is");
  expect(readFileSync(join(dir, "out/big.bin")).every((b) => b === 7)).toBe(true);
  // Executable bits kept, setuid dropped.
  expect(statSync(join(dir, "out/run.sh")).mode & 0o7777).toBe(0o755);
});

const slips: [string, Record<string, Uint8Array | [Uint8Array, { os: number; attrs: number }]>, string][] = [
  ["a .. segment", { "ok.txt": strToU8("fine"), "../evil": strToU8("x") }, '"../evil" climbs out'],
  ["a .. in the middle", { "a/../../evil": strToU8("x") }, '"a/../../evil" climbs out'],
  ["a backslash ..", { "..\\evil": strToU8("x") }, "climbs out"],
  ["an absolute path", { "/tmp/evil": strToU8("x") }, '"/tmp/evil" is an absolute path'],
  ["a drive letter", { "C:/evil": strToU8("x") }, "is an absolute path"],
  ["a symlink", { link: [strToU8("/etc/passwd"), { os: 3, attrs: 0o120777 << 16 }] }, '"link" is a symbolic link'],
  ["a fifo", { pipe: [strToU8(""), { os: 3, attrs: 0o010644 << 16 }] }, "is a special file"],
];

for (const [what, files, message] of slips) {
  test(`refuses an archive with ${what}, writing none of it`, async () => {
    const dir = await temps.make();
    const dest = join(dir, "deep", "out");
    expect(() => extractZip(zipSync(files), dest, "t.zip")).toThrow(message);
    expect(existsSync(dest)).toBe(false);
    expect(readdirSync(dir)).toEqual([]);
  });
}

test("a damaged archive is an error naming it, not garbage on disk", async () => {
  const dir = await temps.make();
  const zip = zipSync({ "a.txt": [strToU8("hello hello hello"), { level: 0 }] });
  // Flip a byte of the stored data: the CRC no longer matches.
  const at = zip.indexOf("h".charCodeAt(0), 30);
  zip[at] ^= 1;
  expect(() => extractZip(zip, join(dir, "out"), "bad.zip")).toThrow("bad.zip is not a valid zip archive: a.txt does not match its size and CRC");
  expect(() => extractZip(strToU8("not a zip"), join(dir, "out2"), "junk.zip")).toThrow("junk.zip is not a valid zip archive");
});
