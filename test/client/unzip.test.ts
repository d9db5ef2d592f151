import { afterEach, expect, test } from "bun:test";
import { existsSync, mkdirSync, readFileSync, readdirSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Zip, ZipPassThrough, strToU8, zipSync } from "fflate";
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

/** A zip with these entries in this order, repeats allowed (zipSync takes an object, so it cannot repeat a name). */
function zipOf(entries: readonly [name: string, content: string][]): Uint8Array {
  const chunks: Uint8Array[] = [];
  const zip = new Zip((err, chunk) => {
    if (err) throw err;
    chunks.push(chunk);
  });
  for (const [name, content] of entries) {
    const entry = new ZipPassThrough(name);
    zip.add(entry);
    entry.push(strToU8(content), true);
  }
  zip.end();
  return Buffer.concat(chunks);
}

const collisions: [string, [string, string][], string][] = [
  ["the same name twice", [["a.txt", "first"], ["a.txt", "second"]], '"a.txt" lands on the same path as entry "a.txt"'],
  ["a doubled slash", [["a/b", "1"], ["a//b", "2"]], '"a//b" lands on the same path as entry "a/b"'],
  ["a backslash", [["a/b", "1"], ["a\\b", "2"]], '"a\\\\b" lands on the same path as entry "a/b"'],
  ["a ./ prefix", [["a/b", "1"], ["./a/b", "2"]], '"./a/b" lands on the same path as entry "a/b"'],
  ["a file, then a file below it", [["a", "file"], ["a/b", "below"]], '"a/b" needs a directory where entry "a" is a file'],
  ["a file below, then the file", [["a/b", "below"], ["a", "file"]], '"a" is a file where entry "a/b" needs a directory'],
  ["a file, then a directory of the same name", [["a", "file"], ["a/", ""]], '"a/" lands on the same path as entry "a"'],
  ["a file named like the directory itself", [["ok.txt", "ok"], [".", "x"]], '"." names the directory itself'],
];

for (const [what, entries, message] of collisions) {
  test(`refuses an archive with ${what}, writing none of it`, async () => {
    const dir = await temps.make();
    const dest = join(dir, "out");
    expect(() => extractZip(zipOf(entries), dest, "t.zip")).toThrow(`t.zip: entry ${message}`);
    expect(existsSync(dest)).toBe(false);
  });
}

test("a directory listed twice, or listed after a file in it, is no collision", async () => {
  const dir = await temps.make();
  expect(extractZip(zipOf([["d/", ""], ["d/a.txt", "a"], ["d/", ""], ["./", ""], ["e/f/g.txt", "g"], ["e/", ""]]), join(dir, "out"), "t.zip")).toBe(2);
  expect(readFileSync(join(dir, "out/d/a.txt"), "utf8")).toBe("a");
  expect(readFileSync(join(dir, "out/e/f/g.txt"), "utf8")).toBe("g");
});

test("an entry is never written through a symlink already in the destination", async () => {
  const dir = await temps.make();
  const dest = join(dir, "out");
  mkdirSync(dest);
  writeFileSync(join(dir, "outside.txt"), "untouched");
  symlinkSync(join(dir, "outside.txt"), join(dest, "a.txt"));
  expect(() => extractZip(zipOf([["a.txt", "overwritten?"]]), dest, "t.zip")).toThrow(`t.zip: ${join(dest, "a.txt")} is a symbolic link; refusing to write entry "a.txt" through it`);
  expect(readFileSync(join(dir, "outside.txt"), "utf8")).toBe("untouched");
});

test("an archive declaring more than a dt archive can hold is refused before anything is inflated or written", async () => {
  const dir = await temps.make();
  const zip = zipSync({ "a.bin": [strToU8("tiny"), { level: 0 }], "b.bin": [strToU8("tiny"), { level: 0 }] });
  // Claim 4 GiB less a byte for each entry in the central directory (uncompressed size at +24 of each record).
  for (let at = zip.indexOf(0x50); at >= 0; at = zip.indexOf(0x50, at + 1)) {
    if (new DataView(zip.buffer).getUint32(at, true) === 0x02014b50) new DataView(zip.buffer).setUint32(at + 24, 0xfffffffe, true);
  }
  expect(() => extractZip(zip, join(dir, "out"), "bomb.zip")).toThrow("bomb.zip: the archive would expand to 8589934588 bytes");
  expect(existsSync(join(dir, "out"))).toBe(false);
});
