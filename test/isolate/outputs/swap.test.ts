/**
 * A test's process that left its group (setsid) outlives the command and may
 * rewrite ISOLATED_OUTDIR while the slave uploads it: between the walk and
 * the hash, and between the hash and the upload. Each swap must end in a
 * refusal naming the file, never in reading what the swap points at, and
 * never in a read that blocks (a fifo).
 */
import { afterEach, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { mkdirSync, renameSync, rmSync, symlinkSync, unlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { createLogger } from "../../../src/common/log.ts";
import { HashPool } from "../../../src/isolate/archive/hash-pool.ts";
import { SMALL_BLOB_BYTES } from "../../../src/isolate/cas/batch.ts";
import { CasClient } from "../../../src/isolate/cas/client.ts";
import { type Digest, digestOfBytes } from "../../../src/isolate/digest.ts";
import { collectOutputs, type OutputFile } from "../../../src/isolate/outputs/collect.ts";
import { uploadOutputs } from "../../../src/isolate/outputs/upload-outputs.ts";
import { type TestCas, startCas } from "../../helpers/cas.ts";
import { TempDirs } from "../../helpers/temp.ts";

const temps = new TempDirs();
const servers: TestCas[] = [];
const log = createLogger({ level: "silent" });
const LIMITS = { maxBytes: 2 ** 30, maxFiles: 1000 };
/** Long enough for a loaded 2-core machine; a read blocked on a fifo never ends, so any bound tells it apart. */
const DEADLINE_MS = 15_000;

afterEach(async () => {
  for (const s of servers.splice(0)) await s.stop();
  await temps.cleanup();
});

/** The promise's outcome, or "hung" past the deadline. */
async function settle<T>(p: Promise<T>): Promise<{ ok: T } | { error: string } | "hung"> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<"hung">((r) => (timer = setTimeout(() => r("hung"), DEADLINE_MS)));
  try {
    return await Promise.race([p.then((ok) => ({ ok }), (err: Error) => ({ error: err.message })), deadline]);
  } finally {
    clearTimeout(timer);
  }
}

const mkfifo = (path: string) => expect(spawnSync("mkfifo", [path]).status).toBe(0);

test("files swapped after the walk for a symlink (to a secret of the same size, or through a parent directory) or a fifo are not hashed", async () => {
  const dir = await temps.make("dt-swap-");
  const out = join(dir, "out");
  const secretDir = join(dir, "secret");
  mkdirSync(join(out, "sub"), { recursive: true });
  mkdirSync(secretDir);
  writeFileSync(join(secretDir, "key"), "SECRET");
  for (const name of ["link", "fifo", "sub/key", "grown"]) writeFileSync(join(out, name), "public");
  const listed = (await collectOutputs(out, LIMITS)).entries.filter((e): e is OutputFile => e.kind === "file");
  expect(listed.map((f) => f.rel).sort()).toEqual(["fifo", "grown", "link", "sub/key"]);

  unlinkSync(join(out, "link"));
  symlinkSync(join(secretDir, "key"), join(out, "link"));
  unlinkSync(join(out, "fifo"));
  mkfifo(join(out, "fifo"));
  // The parent swapped for a symlink: O_NOFOLLOW alone (last component) would read the secret.
  rmSync(join(out, "sub"), { recursive: true });
  symlinkSync(secretDir, join(out, "sub"));
  writeFileSync(join(out, "grown"), "public and then some");

  const pool = new HashPool(2);
  try {
    for (const f of listed) {
      const r = await settle(pool.hashAll([f.abs], [f.identity]));
      expect(r, f.rel).not.toBe("hung");
      expect(r, f.rel).toHaveProperty("error");
      expect((r as { error: string }).error, f.rel).toContain(f.abs);
    }
  } finally {
    pool.close();
  }
});

test("files swapped between the hash and the upload are refused, not read: a symlink to a secret and a fifo in place of a big file", async () => {
  const dir = await temps.make("dt-swap-");
  const cas = await startCas(join(dir, "cas"));
  servers.push(cas);
  const out = join(dir, "out");
  mkdirSync(out);
  const secret = join(dir, "secret");
  writeFileSync(secret, "SECRET");
  writeFileSync(join(out, "small"), "public");
  writeFileSync(join(out, "big"), Buffer.alloc(SMALL_BLOB_BYTES + 1, 1));

  const swapped: string[] = [];
  // The CAS's presence check is the moment between hashing and reading for the upload.
  const client = new CasClient(cas.url, { attempts: 1 });
  const findMissing = client.findMissing.bind(client);
  client.findMissing = async (digests: readonly Digest[]) => {
    if (swapped.length === 0) {
      renameSync(join(out, "small"), join(dir, "small.orig"));
      symlinkSync(secret, join(out, "small"));
      unlinkSync(join(out, "big"));
      mkfifo(join(out, "big"));
      swapped.push("small", "big");
    }
    return findMissing(digests);
  };
  const small = await settle(uploadOutputs(out, { cas: client, limits: LIMITS, capName: "--max-outputs-size 1GiB", log }));
  expect(swapped).toEqual(["small", "big"]);
  expect(small).not.toBe("hung");
  expect(small).toHaveProperty("error");
  // Refused by the slave for what it is, not sent and refused by the CAS for a digest mismatch.
  expect((small as { error: string }).error).toMatch(/became a symbolic link|no longer a regular file/);
  expect(await new CasClient(cas.url).findMissing([digestOfBytes("SECRET")])).toHaveLength(1);
});
