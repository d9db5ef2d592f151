/**
 * ETXTBSY, for the whole slave: a command spawned while the slave holds a
 * file open for writing gets a copy of that descriptor for a moment (Bun
 * spawns with vfork; see LocalCache.insert), and exec of that file then
 * fails "text file busy". So at every spawn of a real slave running several
 * slots at once (fresh 4 MiB executables into the cache, chatty logs, artifact
 * zips, the run ledger, uploads), no descriptor open for writing may be on
 * a file that is or can become executable: one with an execute bit, or one
 * in the cache or in a run directory, where executables live. Log files,
 * zips and ledger records are written elsewhere and without execute bits,
 * so no task can exec them.
 */
import { describe, expect, test } from "bun:test";
import { fstatSync, readdirSync, readFileSync, readlinkSync } from "node:fs";
import { join } from "node:path";
import { SMALL_BLOB_BYTES } from "../../src/isolate/cas/batch.ts";
import { shellScript } from "../helpers/tree.ts";
import { resultOf, useSlaveSetup } from "./harness.ts";

const setup = useSlaveSetup();

/** Descriptors of this process open for writing on regular files: path and mode. */
function writableFiles(): { path: string; mode: number }[] {
  const found: { path: string; mode: number }[] = [];
  for (const fd of readdirSync("/proc/self/fd")) {
    try {
      const path = readlinkSync(`/proc/self/fd/${fd}`);
      if (!path.startsWith("/")) continue; // pipes, sockets, anonymous inodes
      const flags = Number.parseInt(/^flags:\s+(\d+)/m.exec(readFileSync(`/proc/self/fdinfo/${fd}`, "utf8"))![1]!, 8);
      if ((flags & 3) === 0) continue; // O_RDONLY
      const info = fstatSync(Number(fd));
      if (info.isFile()) found.push({ path, mode: info.mode & 0o7777 });
    } catch {
      // closed meanwhile
    }
  }
  return found;
}

describe("descriptors at a spawn", () => {
  test("a slave running 4 slots of fresh executables, chatty logs and artifacts never spawns beside a writable descriptor on a file that is or may become executable", async () => {
    const s = await setup();
    const cacheDir = join(s.dir, "cache");
    const runsDir = join(s.dir, "runs");
    const violations: string[] = [];
    let spawns = 0;
    const spawn = Bun.spawn;
    // Checked in the same synchronous step as the spawn: what the check sees, the vfork copies.
    (Bun as { spawn: unknown }).spawn = (...args: Parameters<typeof Bun.spawn>) => {
      spawns++;
      for (const { path, mode } of writableFiles()) {
        const inCache = path.startsWith(`${cacheDir}/`) && !/^\/(pins\/|state|lock)/.test(path.slice(cacheDir.length));
        const inRunTree = path.startsWith(`${runsDir}/`) && !path.slice(runsDir.length).startsWith("/dt-slave-logs-");
        if ((mode & 0o111) !== 0 || inCache || inRunTree) violations.push(`${path} (mode ${mode.toString(8)}) open for writing at a spawn`);
      }
      return spawn(...args);
    };
    try {
      // Each task's own executable, 4 MiB so it is streamed into the cache for a while, fetched cold while other slots spawn.
      const pad = "#".repeat(4 * SMALL_BLOB_BYTES);
      const hashes = [];
      for (let i = 0; i < 12; i++) {
        const script = shellScript(`# task ${i}\ni=0\nwhile [ $i -lt 2000 ]; do echo "line $i of a chatty task ${i}"; i=$((i+1)); done\nmkdir -p ../out && echo done > ../out/result.log\n#${pad}`);
        hashes.push(await s.archive({ "work/run.sh": script }, { command: ["./run.sh"], relativeCwd: "work" }));
      }
      const leases = s.master.push(...hashes.map((isolate_hash) => ({ isolate_hash, artifact_archive_globs: ["out/*.log"] })));
      s.startSlave({ slots: 4, ledgerDir: join(s.dir, "ledger") });
      for (const lease of leases) expect(await resultOf(s.master, lease.lease_id, 60_000)).toMatchObject({ state: "SUCCEEDED", artifact_missing: false });
    } finally {
      (Bun as { spawn: unknown }).spawn = spawn;
    }
    expect(spawns).toBeGreaterThanOrEqual(12);
    expect(violations.slice(0, 5)).toEqual([]);
  }, 90_000);
});
