import { afterEach, describe, expect, test } from "bun:test";
import { readFile, rename, rm, symlink, utimes } from "node:fs/promises";
import { join } from "node:path";
import { unzipSync } from "fflate";
import { createLogger } from "../../src/common/log.ts";
import { TOO_BIG_ENTRY, findArtifacts, writeArtifactZip } from "../../src/slave/artifacts.ts";
import { TempDirs } from "../helpers/temp.ts";
import { writeTree } from "../helpers/tree.ts";

const temps = new TempDirs();
afterEach(() => temps.cleanup());
const log = createLogger({ level: "silent" });

describe("artifacts", () => {
  test("finds regular files by ** globs, once each, by real path; skips dirs, broken and escaping links, and dotfiles unless named", async () => {
    const dir = await temps.make("dt-artifacts-");
    const root = join(dir, "task");
    await writeTree(dir, { "outside/secret.log": "secret" });
    await writeTree(root, {
      "logs/a.log": "a",
      "logs/deep/er/b.log": "b",
      "logs/.hidden.log": "h",
      "logs/dir.log/inner.txt": "not a match itself",
      "logs/broken.log": { symlink: "nowhere" },
      "logs/escape.log": { symlink: "../../outside/secret.log" },
      "logs/linked-dir": { symlink: "../../outside" },
      "logs/alias.log": { symlink: "a.log" },
      "other.txt": "o",
    });
    const files = await findArtifacts(root, ["logs/**/*.log", "**/a.log", "[", "logs/.*"], log, {});
    expect(files.map((f) => f.name)).toEqual(["logs/.hidden.log", "logs/a.log", "logs/deep/er/b.log"]);
    expect(files.find((f) => f.name === "logs/a.log")).toMatchObject({ size: 1, path: join(root, "logs/a.log") });
  });

  test("streams files into a zip with their paths, contents and modes; mtimes before 1980 are clamped", async () => {
    const dir = await temps.make("dt-artifacts-");
    const big = "0123456789abcdef".repeat(256 * 1024); // 4 MiB: many stream chunks
    await writeTree(dir, { "t/big.txt": big, "t/sub/run.sh": { content: "#!/bin/sh\n", mode: 0o755 }, "t/empty": "" });
    await utimes(join(dir, "t/empty"), new Date(0), new Date(0));
    const files = await findArtifacts(join(dir, "t"), ["**"], log, {});
    const zipPath = join(dir, "a.zip");
    expect(await writeArtifactZip(files, zipPath, 10 * 2 ** 20)).toEqual({ entries: 3, inputBytes: big.length + 10, tooBig: false, skipped: [] });
    const zipBytes = await readFile(zipPath);
    // DEFLATE: the repetitive file shrinks.
    expect(zipBytes.length).toBeLessThan(big.length / 10);
    const entries = unzipSync(zipBytes);
    expect(Object.keys(entries).sort()).toEqual(["big.txt", "empty", "sub/run.sh"]);
    expect(new TextDecoder().decode(entries["big.txt"])).toBe(big);
    expect(entries.empty!.length).toBe(0);
    // unzip -Z would show -rwxr-xr-x: the mode sits in the central directory's external attributes.
    const central = zipBytes.indexOf(Buffer.from("PK\x01\x02"));
    const names: Record<string, number> = {};
    for (let at = central; at >= 0 && at < zipBytes.length; at = zipBytes.indexOf(Buffer.from("PK\x01\x02"), at + 4)) {
      const nameLength = zipBytes.readUInt16LE(at + 28);
      names[zipBytes.subarray(at + 46, at + 46 + nameLength).toString()] = zipBytes.readUInt32LE(at + 38) >>> 16;
    }
    expect(names["sub/run.sh"]! & 0o777).toBe(0o755);
  });

  test("over the cap, the zip holds only _ARCHIVE_TOO_BIG_, saying the total and the cap", async () => {
    const dir = await temps.make("dt-artifacts-");
    await writeTree(dir, { "t/a": "x".repeat(600), "t/b": "y".repeat(500) });
    const files = await findArtifacts(join(dir, "t"), ["*"], log, {});
    expect(await writeArtifactZip(files, join(dir, "a.zip"), 1000)).toEqual({ entries: 1, inputBytes: 1100, tooBig: true, skipped: [] });
    const entries = unzipSync(await readFile(join(dir, "a.zip")));
    expect(Object.keys(entries)).toEqual([TOO_BIG_ENTRY]);
    expect(new TextDecoder().decode(entries[TOO_BIG_ENTRY])).toContain("(1100 bytes > 1000 bytes)");
  });

  test("never collects a file outside the task directory: real symlinks to /etc/passwd and /etc, ../ and absolute globs", async () => {
    const dir = await temps.make("dt-artifacts-");
    const root = join(dir, "task");
    await writeTree(dir, { "outside/secret.log": "secret", "task-2/other.log": "another task's" });
    await writeTree(root, {
      "logs/ok.log": "ok",
      "logs/passwd.log": { symlink: "/etc/passwd" },
      "logs/etc": { symlink: "/etc" },
      "logs/neighbour": { symlink: join(dir, "task-2") },
      "logs/up": { symlink: ".." },
      "escape.log": { symlink: join(dir, "outside/secret.log") },
    });
    const warnings: string[] = [];
    const recording = createLogger({ level: "warn", stream: { write: (line: string) => warnings.push(line) } as unknown as NodeJS.WritableStream });
    const globs = ["logs/*", "**/*.log", "logs/etc/passwd", "logs/etc/*", "logs/neighbour/**", "logs/up/../outside/*", "../outside/*", "/etc/passwd", "/etc/*", "**/passwd", "logs/up/**/*.log", "*.log"];
    const files = await findArtifacts(root, globs, recording, {});
    expect(files.map((f) => f.name)).toEqual(["logs/ok.log"]);
    for (const f of files) expect(f.path.startsWith(`${root}/`)).toBe(true);
    const said = warnings.join("\n");
    expect(said).toContain('artifact glob "../outside/*" reaches outside the task directory');
    expect(said).toContain('artifact glob "/etc/passwd" reaches outside the task directory');
    expect(said).toContain("logs/passwd.log resolves to /etc/passwd, outside the task directory");
    // The archive built from what was found holds only that file.
    await writeArtifactZip(files, join(dir, "a.zip"), 2 ** 20);
    expect(Object.keys(unzipSync(await readFile(join(dir, "a.zip"))))).toEqual(["logs/ok.log"]);
  });

  test("a file swapped for a symlink after it was found is left out of the archive, not read through the link", async () => {
    const dir = await temps.make("dt-artifacts-");
    const root = join(dir, "task");
    await writeTree(dir, { "outside/logs/a.log": "secret from outside the task", "outside/b.log": "secret too" });
    await writeTree(root, { "logs/a.log": "a", "b.log": "b", "c.log": "c" });
    const files = await findArtifacts(root, ["**/*.log"], log, {});
    expect(files.map((f) => f.name)).toEqual(["b.log", "c.log", "logs/a.log"]);
    // What a process the test left running could do between finding and zipping: a directory and a file become links out.
    await rename(join(root, "logs"), join(root, "logs.old"));
    await symlink(join(dir, "outside/logs"), join(root, "logs"));
    await rm(join(root, "b.log"));
    await symlink(join(dir, "outside/b.log"), join(root, "b.log"));
    const summary = await writeArtifactZip(files, join(dir, "a.zip"), 2 ** 20);
    expect(summary).toMatchObject({ entries: 1, skipped: ["b.log", "logs/a.log"] });
    const entries = unzipSync(await readFile(join(dir, "a.zip")));
    expect(Object.keys(entries)).toEqual(["c.log"]);
    expect(new TextDecoder().decode(entries["c.log"])).toBe("c");
  });
});
