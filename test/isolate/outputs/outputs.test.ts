import { afterEach, describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { lstatSync, mkdirSync, readFileSync, readlinkSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { createLogger } from "../../../src/common/log.ts";
import { CasClient } from "../../../src/isolate/cas/client.ts";
import { digestOfBytes } from "../../../src/isolate/digest.ts";
import { encodeIsolated, parseIsolated } from "../../../src/isolate/manifest.ts";
import { downloadOutputs } from "../../../src/isolate/outputs/download-outputs.ts";
import { parseOutputsRef } from "../../../src/isolate/outputs/outputs-ref.ts";
import { DEFAULT_MAX_OUTPUTS_FILES, uploadOutputs } from "../../../src/isolate/outputs/upload-outputs.ts";
import { type TestCas, startCas } from "../../helpers/cas.ts";
import { TempDirs } from "../../helpers/temp.ts";
import { writeTree } from "../../helpers/tree.ts";

const temps = new TempDirs();
const servers: TestCas[] = [];
const log = createLogger({ level: "silent" });
const LIMITS = { maxBytes: 2 ** 30, maxFiles: DEFAULT_MAX_OUTPUTS_FILES };

afterEach(async () => {
  for (const s of servers.splice(0)) await s.stop();
  await temps.cleanup();
});

async function setup() {
  const dir = await temps.make("dt-outputs-");
  const cas = await startCas(join(dir, "cas"));
  servers.push(cas);
  const upload = (outDir: string, limits = LIMITS) => uploadOutputs(outDir, { cas: new CasClient(cas.url, { attempts: 1 }), limits, capName: "--max-outputs-size 1GiB", log });
  return { dir, cas, upload };
}

describe("outputs trees", () => {
  test("upload as a manifest of files, modes and inner symlinks; equal outputs upload nothing twice; download gives them back byte for byte", async () => {
    const s = await setup();
    const out = join(s.dir, "out");
    await writeTree(out, {
      "report.xml": "<testsuites/>",
      "sub/deep/data.bin": "\u0000\u0001binary",
      "run.sh": { content: "#!/bin/sh\n", mode: 0o755 },
      "empty": "",
      "latest": { symlink: "sub/deep/data.bin" },
    });
    const first = await s.upload(out);
    expect(first.note).toBeNull();
    expect(first.ref).toEqual({ isolated: expect.stringMatching(/^[0-9a-f]{64}$/), isolatedserver: s.cas.url, namespace: "sha-256" });
    expect(first.files).toBe(5);
    const manifest = parseIsolated(await new CasClient(s.cas.url).getBytes(first.ref!.isolated), "outputs");
    expect(Object.keys(manifest.files).sort()).toEqual(["empty", "latest", "report.xml", "run.sh", "sub/deep/data.bin"]);
    expect(manifest.files["run.sh"]!.m).toBe(0o755);
    expect(manifest.files.latest).toEqual({ l: "sub/deep/data.bin" });
    expect(manifest.command).toBeUndefined();

    // A second attempt writing the same files: one presence round per call, no blob travels.
    const puts = () => s.cas.requests.filter((r) => r.startsWith("PUT ") || r === "POST /batch").length;
    const before = puts();
    const second = await s.upload(out);
    expect(second.ref).toEqual(first.ref);
    expect(second.upload!.uploadedItems).toBe(0);
    expect(puts()).toBe(before);

    const dest = join(s.dir, "fetched");
    const got = await downloadOutputs(new CasClient(s.cas.url), first.ref!.isolated, dest);
    expect(got).toEqual({ files: 4, bytes: first.bytes, symlinks: 1 });
    for (const rel of ["report.xml", "sub/deep/data.bin", "run.sh", "empty"]) {
      expect(readFileSync(join(dest, rel))).toEqual(readFileSync(join(out, rel)));
      expect(statSync(join(dest, rel)).mode & 0o777).toBe(statSync(join(out, rel)).mode & 0o777);
    }
    expect(readlinkSync(join(dest, "latest"))).toBe("sub/deep/data.bin");
    // Again into the same place: same result, nothing written through the link made the first time.
    await downloadOutputs(new CasClient(s.cas.url), first.ref!.isolated, dest);
    expect(readFileSync(join(dest, "report.xml"), "utf8")).toBe("<testsuites/>");
  });

  test("an empty outdir (empty directories only) records no outputs and asks the CAS nothing", async () => {
    const s = await setup();
    const out = join(s.dir, "out");
    mkdirSync(join(out, "a/b"), { recursive: true });
    const r = await s.upload(out);
    expect(r).toMatchObject({ ref: null, files: 0, note: null });
    expect(s.cas.requests).toEqual([]);
  });

  test("over the byte cap or the file cap: nothing uploaded, and the note says how much and which flag", async () => {
    const s = await setup();
    const out = join(s.dir, "out");
    await writeTree(out, { "a.bin": "x".repeat(3000), "b.bin": "y".repeat(3000) });
    const bytes = await s.upload(out, { maxBytes: 5000, maxFiles: 10 });
    expect(bytes.ref).toBeNull();
    expect(bytes.note).toBe("outputs of 5.9 KiB exceed --max-outputs-size 1GiB; nothing uploaded");
    const files = await s.upload(out, { maxBytes: 2 ** 30, maxFiles: 1 });
    expect(files.ref).toBeNull();
    expect(files.note).toBe("outputs of more than 1 files exceed the 1 an attempt may upload; nothing uploaded");
    expect(s.cas.requests).toEqual([]);
  });

  test("hostile outdir: a symlink leaving it is recorded nowhere and never followed, a fifo is never opened, both are named", async () => {
    const s = await setup();
    const out = join(s.dir, "out");
    const secret = join(s.dir, "secret.txt");
    writeFileSync(secret, "do not upload");
    await writeTree(out, { "ok.txt": "ok", "up": { symlink: "../secret.txt" } });
    symlinkSync(secret, join(out, "abs"));
    symlinkSync("/etc", join(out, "etc"));
    expect(spawnSync("mkfifo", [join(out, "pipe")]).status).toBe(0);
    const r = await s.upload(out);
    expect(r.ref).not.toBeNull();
    const manifest = parseIsolated(await new CasClient(s.cas.url).getBytes(r.ref!.isolated), "outputs");
    expect(Object.keys(manifest.files)).toEqual(["ok.txt"]);
    expect(r.note).toBe("left out of the outputs: abs (a symlink pointing outside the outputs), etc (a symlink pointing outside the outputs), pipe (a fifo) and 1 more");
    // The secret's bytes never reached the CAS.
    expect(await new CasClient(s.cas.url).findMissing([digestOfBytes("do not upload")])).toHaveLength(1);
  });

  test("10,000 files upload in batches; past the file cap the walk stops without reading them all", async () => {
    const s = await setup();
    const out = join(s.dir, "out");
    for (let d = 0; d < 10; d++) {
      mkdirSync(join(out, `d${d}`), { recursive: true });
      for (let f = 0; f < 1000; f++) writeFileSync(join(out, `d${d}`, `f${f}`), `${d}/${f}`);
    }
    const r = await s.upload(out);
    expect(r.files).toBe(10_000);
    expect(r.upload!.uploadedItems).toBe(10_001);
    // Far fewer requests than files: batches.
    expect(s.cas.requests.length).toBeLessThan(40);
    const capped = await s.upload(out, { maxBytes: 2 ** 30, maxFiles: 500 });
    expect(capped).toMatchObject({ ref: null, files: 500 });
  }, 60_000);

  test("empty directories count against the file cap: thousands of them stop the walk, not only files", async () => {
    const s = await setup();
    const out = join(s.dir, "out");
    for (let d = 0; d < 300; d++) mkdirSync(join(out, `d${d}`, "e"), { recursive: true });
    const r = await s.upload(out, { maxBytes: 2 ** 30, maxFiles: 100 });
    expect(r).toMatchObject({ ref: null, files: 0, note: "outputs of more than 100 directories exceed the 100 an attempt may upload; nothing uploaded" });
    expect(s.cas.requests).toEqual([]);
  });

  test("entries left out (symlinks leaving the outputs) count against the file cap: the list of them is bounded too", async () => {
    const s = await setup();
    const out = join(s.dir, "out");
    mkdirSync(out, { recursive: true });
    for (let i = 0; i < 150; i++) symlinkSync("/etc/passwd", join(out, `l${i}`));
    const r = await s.upload(out, { maxBytes: 2 ** 30, maxFiles: 100 });
    expect(r).toMatchObject({ ref: null, note: "outputs of more than 100 files exceed the 100 an attempt may upload; nothing uploaded" });
  });

  test("download refuses a manifest whose entries would leave the destination, before writing anything", async () => {
    const s = await setup();
    const cas = new CasClient(s.cas.url);
    const put = async (files: Record<string, unknown>) => {
      const bytes = new TextEncoder().encode(JSON.stringify({ algo: "sha-256", version: "1.4", files }));
      const d = digestOfBytes(bytes);
      await cas.putBlob(d, bytes);
      return d.hash;
    };
    const blob = digestOfBytes("x");
    await cas.putBlob(blob, new TextEncoder().encode("x"));
    const dest = join(s.dir, "dest");
    for (const files of [
      { "../escape": { h: blob.hash, s: 1 } },
      { "/abs": { h: blob.hash, s: 1 } },
      { link: { l: "../../etc" } },
      { link: { l: "." }, "link/x": { h: blob.hash, s: 1 } },
    ]) {
      await expect(downloadOutputs(cas, await put(files), dest)).rejects.toThrow(/outside|relative|absolute|'\.\.'|also as a directory/);
    }
    // A symlink already at the destination is never written through.
    mkdirSync(dest, { recursive: true });
    symlinkSync(join(s.dir, "victim"), join(dest, "f"));
    await expect(downloadOutputs(cas, await put({ f: { h: blob.hash, s: 1 } }), dest)).rejects.toThrow(/symbolic link; refusing/);
    expect(lstatSync(join(s.dir, "dest", "f")).isSymbolicLink()).toBe(true);
    expect(() => lstatSync(join(s.dir, "victim"))).toThrow();
    // A manifest the CAS does not have.
    const good = encodeIsolated({ algo: "sha-256", version: "1.4", files: {} });
    await expect(downloadOutputs(cas, good.digest.hash, dest)).rejects.toThrow(/not found|404/i);
  });
});

describe("parseOutputsRef", () => {
  const hash = "a".repeat(64);
  test("takes luci's shape and refuses anything else with the field named", () => {
    expect(parseOutputsRef(null, "outputs_ref")).toBeNull();
    expect(parseOutputsRef(undefined, "outputs_ref")).toBeNull();
    expect(parseOutputsRef({ isolated: hash, isolatedserver: "https://cas:4242/x", namespace: "sha-256" }, "r")).toEqual({ isolated: hash, isolatedserver: "https://cas:4242/x", namespace: "sha-256" });
    const bad: [unknown, RegExp][] = [
      ["x", /must be an object/],
      [[], /must be an object/],
      [{ isolated: "A".repeat(64), isolatedserver: "http://c" }, /r\.isolated must be a SHA-256/],
      [{ isolated: hash.slice(1), isolatedserver: "http://c" }, /r\.isolated/],
      [{ isolated: hash, isolatedserver: "file:///etc/passwd" }, /r\.isolatedserver must be an http\(s\) URL/],
      [{ isolated: hash, isolatedserver: "javascript:alert(1)" }, /r\.isolatedserver/],
      [{ isolated: hash, isolatedserver: "http://user:pw@cas" }, /r\.isolatedserver/],
      [{ isolated: hash, isolatedserver: `http://c/${"x".repeat(3000)}` }, /r\.isolatedserver/],
      [{ isolated: hash, isolatedserver: "http://c", namespace: "<script>" }, /r\.namespace/],
    ];
    for (const [value, error] of bad) expect(() => parseOutputsRef(value, "r")).toThrow(error);
  });
});
