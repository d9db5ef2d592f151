import { describe, expect, test } from "bun:test";
import { DtError } from "../../src/common/errors.ts";
import { digestOfBytes } from "../../src/isolate/digest.ts";
import { type Isolated, checkLinkTarget, checkTreePath, encodeIsolated, parseIsolated, serializeIsolated } from "../../src/isolate/manifest.ts";

const HASH = "a".repeat(64);
const encode = (value: unknown) => new TextEncoder().encode(JSON.stringify(value));
const manifest = (files: Record<string, unknown>, extra: Record<string, unknown> = {}) => encode({ algo: "sha-256", version: "1.4", files, ...extra });

/** Asserts that `fn` throws an invalid_input DtError whose message matches `message`. */
function expectInvalid(fn: () => unknown, message: RegExp): void {
  let error: unknown;
  try {
    fn();
  } catch (err) {
    error = err;
  }
  expect(error).toBeInstanceOf(DtError);
  expect((error as DtError).code).toBe("invalid_input");
  expect((error as DtError).message).toMatch(message);
}

describe("checkTreePath", () => {
  test("accepts relative normalized paths", () => {
    for (const p of ["a", "a/b/c.txt", "build/latest/bin/foo-test", "..a/b..", ".hidden/x"]) expect(checkTreePath(p, "t")).toBe(p);
  });

  test.each([
    ["/etc/passwd", /absolute/],
    ["a/../../b", /'\.\.'/],
    ["..", /'\.\.'/],
    ["../a", /'\.\.'/],
    ["", /empty/],
    ["a//b", /not normalized/],
    ["./a", /not normalized/],
    ["a/./b", /not normalized/],
    ["a/", /ends with a separator/],
    ["a\0b", /NUL/],
  ])("refuses %j", (path, message) => {
    expectInvalid(() => checkTreePath(path, "files[x]"), message);
  });

  test("names the input and the path in the error", () => {
    expectInvalid(() => checkTreePath("../x", "manifest m: files"), /^manifest m: files: path "\.\.\/x"/);
  });
});

describe("checkLinkTarget", () => {
  test("accepts targets that stay inside the tree", () => {
    expect(checkLinkTarget("a/b/link", "../c/d", "t")).toBe("../c/d");
    expect(checkLinkTarget("link", "data.txt", "t")).toBe("data.txt");
    expect(checkLinkTarget("a/link", "..", "t")).toBe("..");
  });

  test.each([
    ["link", "../outside"],
    ["a/link", "../../outside"],
    ["link", ".."],
  ])("refuses %s -> %s, which leaves the tree", (link, target) => {
    expectInvalid(() => checkLinkTarget(link, target, "t"), /points outside the tree/);
  });

  // Text that stays inside can still leave on disk when a name before the '..' is itself a symlink.
  test.each([
    ["a/b/link", "../x/../../../y"],
    ["esc", "a/b/c/up/../../.."],
    ["x", "a/../b"],
  ])("refuses %s -> %s: '..' after a name", (link, target) => {
    expectInvalid(() => checkLinkTarget(link, target, "t"), /'\.\.' after a name/);
  });

  test("allows leading '../' that stays inside", () => {
    expect(checkLinkTarget("lib/a/libfoo.so", "../../lib64/libfoo.so.1", "t")).toBe("../../lib64/libfoo.so.1");
  });

  test.each(["/etc/passwd", "", "a\0b"])("refuses the target %j", (target) => {
    expectInvalid(() => checkLinkTarget("link", target, "t"), /relative target inside the tree/);
  });
});

describe("serializeIsolated", () => {
  const files = { "b.txt": { h: HASH, s: 1, m: 0o644 }, "a/x": { l: "../b.txt" } };

  test("gives the same bytes whatever the key insertion order", () => {
    const one: Isolated = { algo: "sha-256", version: "1.4", files, command: ["./t", "--x"], relative_cwd: "a", read_only: 1 };
    const reversedFiles = Object.fromEntries(Object.entries(files).reverse().map(([k, v]) => [k, Object.fromEntries(Object.entries(v).reverse())]));
    const two = { read_only: 1, relative_cwd: "a", command: ["./t", "--x"], files: reversedFiles, version: "1.4", algo: "sha-256" } as Isolated;
    expect(serializeIsolated(two)).toBe(serializeIsolated(one));
    expect(encodeIsolated(two).digest).toEqual(encodeIsolated(one).digest);
  });

  test("sorts keys at every level, keeps array order, writes no whitespace and drops undefined", () => {
    const text = serializeIsolated({ algo: "sha-256", version: "1.4", files, command: ["z", "a"], relative_cwd: undefined });
    expect(text).toBe(`{"algo":"sha-256","command":["z","a"],"files":{"a/x":{"l":"../b.txt"},"b.txt":{"h":"${HASH}","m":420,"s":1}},"version":"1.4"}`);
  });

  test("encodeIsolated's digest is the SHA-256 of the serialized bytes, and it parses back", () => {
    const isolated: Isolated = { algo: "sha-256", version: "1.4", files, read_only: 2 };
    const { bytes, digest } = encodeIsolated(isolated);
    expect(digest).toEqual(digestOfBytes(serializeIsolated(isolated)));
    const parsed = parseIsolated(bytes, "m");
    expect(serializeIsolated(parsed)).toBe(serializeIsolated(isolated));
  });
});

describe("parseIsolated", () => {
  test("accepts a full manifest", () => {
    const parsed = parseIsolated(
      manifest({ "bin/t": { h: HASH, s: 3, m: 0o755 }, "bin/l": { l: "t" } }, { command: ["bin/t"], relative_cwd: "bin", read_only: 0, includes: ["b".repeat(64)] }),
      "m",
    );
    expect(parsed.files["bin/t"]).toEqual({ h: HASH, s: 3, m: 0o755 });
    expect(parsed.files["bin/l"]).toEqual({ l: "t" });
    expect(parsed).toMatchObject({ command: ["bin/t"], relative_cwd: "bin", read_only: 0, includes: ["b".repeat(64)] });
  });

  test.each([
    ["sha-1", /algo "sha-1" is not supported/],
    ["sha-512", /algo "sha-512" is not supported/],
    [undefined, /algo undefined is not supported/],
  ])("refuses algo %j", (algo, message) => {
    expectInvalid(() => parseIsolated(encode({ algo, version: "1.4", files: {} }), "m"), message);
  });

  test("refuses an entry with both h and l", () => {
    expectInvalid(() => parseIsolated(manifest({ x: { h: HASH, s: 1, l: "y" } }), "m"), /files\["x"\] must have exactly one of h .* or l/);
  });

  test("refuses an entry with neither h nor l", () => {
    expectInvalid(() => parseIsolated(manifest({ x: { s: 1 } }), "m"), /exactly one of h/);
  });

  test("refuses a mode on a symlink", () => {
    expectInvalid(() => parseIsolated(manifest({ x: { l: "y", m: 0o644 } }), "m"), /files\["x"\]: a symlink cannot have a mode/);
  });

  test.each([
    ["A".repeat(64)],
    ["a".repeat(63)],
    ["g".repeat(64)],
    [42],
  ])("refuses the hash %j", (h) => {
    expectInvalid(() => parseIsolated(manifest({ x: { h, s: 1 } }), "m"), /files\["x"\]\.h must be 64 lower-case hex digits/);
  });

  test("refuses h without a valid size", () => {
    expectInvalid(() => parseIsolated(manifest({ x: { h: HASH } }), "m"), /files\["x"\]\.s must be a non-negative integer/);
    expectInvalid(() => parseIsolated(manifest({ x: { h: HASH, s: -1 } }), "m"), /\.s must be a non-negative integer/);
  });

  test("refuses a file listed under another file", () => {
    expectInvalid(() => parseIsolated(manifest({ a: { h: HASH, s: 1 }, "a/b": { h: HASH, s: 1 } }), "m"), /a is listed as a file or symlink and also as a directory of a\/b/);
    expectInvalid(() => parseIsolated(manifest({ "a/b/c": { h: HASH, s: 1 }, "a/b": { l: "x" } }), "m"), /a\/b is listed as a file or symlink/);
  });

  test("refuses paths and link targets that leave the tree", () => {
    expectInvalid(() => parseIsolated(manifest({ "../x": { h: HASH, s: 1 } }), "m"), /contains '\.\.'/);
    expectInvalid(() => parseIsolated(manifest({ "/x": { h: HASH, s: 1 } }), "m"), /is absolute/);
    expectInvalid(() => parseIsolated(manifest({ "a/l": { l: "../../x" } }), "m"), /points outside the tree/);
    expectInvalid(() => parseIsolated(manifest({}, { relative_cwd: "../up" }), "m"), /relative_cwd/);
  });

  test("refuses a path given twice, which JSON.parse would silently read as the last one", () => {
    const text = (files: string) => new TextEncoder().encode(`{"algo":"sha-256","version":"1.4","files":{${files}}}`);
    const file = `{"h":"${HASH}","s":1}`;
    expectInvalid(() => parseIsolated(text(`"a/b":${file},"c":${file},"a/b":{"l":"c"}`), "m"), /^m: files\["a\/b"\]: appears twice/);
    // The same path spelled with an escape is the same path.
    expectInvalid(() => parseIsolated(text(`"a/b":${file},"a\\u002fb":${file}`), "m"), /^m: files\["a\/b"\]: appears twice/);
    expectInvalid(() => parseIsolated(text(`"x":{"h":"${HASH}","s":1,"s":2}`), "m"), /^m: files\.x\.s: appears twice/);
    expectInvalid(() => parseIsolated(new TextEncoder().encode(`{"algo":"sha-256","version":"1.4","files":{},"command":["a"],"command":["b"]}`), "m"), /^m: command: appears twice/);
  });

  test("refuses paths that name the same place in another spelling, and a file that is also a directory", () => {
    for (const path of ["a//b", "./a", "a/./b", "a/", "a/b/"]) expectInvalid(() => parseIsolated(manifest({ [path]: { h: HASH, s: 1 } }), "m"), /is not normalized|ends with a separator/);
    expectInvalid(() => parseIsolated(manifest({ "a/b": { h: HASH, s: 1 }, a: { l: "c" } }), "m"), /a is listed as a file or symlink and also as a directory of a\/b/);
  });

  test("refuses devices, fifos and anything else that is not a file or a symlink", () => {
    for (const t of ["fifo", "char", "block", "socket", "dir", "tar"]) {
      expectInvalid(() => parseIsolated(manifest({ x: { h: HASH, s: 1, t } }), "m"), new RegExp(`type "${t}" is not supported`));
    }
    expectInvalid(() => parseIsolated(manifest({ "dev/null": { l: "/dev/null" } }), "m"), /must have a relative target inside the tree/);
  });

  test("a manifest of 100,000 entries is checked for repeats in about the time JSON.parse takes", () => {
    const files: Record<string, unknown> = {};
    for (let i = 0; i < 100_000; i++) files[`dir${i % 100}/sub/file-${i}.txt`] = { h: HASH, s: i, m: 0o644 };
    const bytes = manifest(files);
    const time = (fn: () => unknown) => {
      const started = performance.now();
      fn();
      return performance.now() - started;
    };
    const baseline = Math.min(...[0, 1, 2].map(() => time(() => JSON.parse(new TextDecoder().decode(bytes)))));
    const strict = Math.min(...[0, 1, 2].map(() => time(() => parseIsolated(bytes, "m"))));
    console.log(`parseIsolated of 100,000 entries: ${strict.toFixed(0)} ms, ${(strict / baseline).toFixed(1)}x JSON.parse alone`);
    expect(Object.keys(parseIsolated(bytes, "m").files)).toHaveLength(100_000);
  });

  test("refuses other malformed manifests", () => {
    expectInvalid(() => parseIsolated(new TextEncoder().encode("{not json"), "m"), /^m is not valid JSON/);
    expectInvalid(() => parseIsolated(encode([]), "m"), /must be a JSON object/);
    expectInvalid(() => parseIsolated(encode({ algo: "sha-256", version: "2.0", files: {} }), "m"), /version "2\.0" is not 1\.x/);
    expectInvalid(() => parseIsolated(manifest({ x: { h: HASH, s: 1, m: 0o1000 } }), "m"), /m must be permission bits/);
    expectInvalid(() => parseIsolated(manifest({ x: { h: HASH, s: 1, t: "tar" } }), "m"), /type "tar" is not supported/);
    expectInvalid(() => parseIsolated(manifest({}, { read_only: 3 }), "m"), /read_only must be 0, 1 or 2/);
    expectInvalid(() => parseIsolated(manifest({}, { includes: ["nothex"] }), "m"), /includes\[0\]/);
  });
});
