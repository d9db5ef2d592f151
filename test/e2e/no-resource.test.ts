/**
 * Tasks no slave can run end, on real master and slave processes: one
 * whose only slave holds itself ends NO_RESOURCE after the master's
 * --no-resource-timeout, naming the hold; one whose inputs are bigger than
 * the slave's cache fails at once with both sizes, and the slave stays
 * healthy (the 20 MB tmpfs, where the mount is allowed).
 */
import { afterEach, expect, test } from "bun:test";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import type { SlaveView } from "../../src/master/protocol.ts";
import { TempDirs } from "../helpers/temp.ts";
import { shellScript } from "../helpers/tree.ts";
import { E2E_TEST_TIMEOUT_MS, useCluster } from "./cluster.ts";

const setup = useCluster("dt-e2e-no-resource-", { masterArgs: () => ["--no-resource-timeout", "3s"] });

test("a task whose only slave quarantined itself ends NO_RESOURCE after --no-resource-timeout, naming the slave and its hold", async () => {
  const c = await setup();
  await c.startMaster();
  await c.startSlave("s1", 1, ["--min-free-disk", "1000000TiB"]);
  const hash = await c.archive({ "t.sh": shellScript("true") }, ["./t.sh"]);
  const jobId = await c.submitNoWait([{ isolate_hash: hash, description: "waits" }]);
  const summary = await c.api.waitFinished(jobId, 30_000);
  expect(summary.counts).toMatchObject({ failed: 1, finished: 1 });
  const [attempt] = (await c.api.tasks(jobId))[0]!.attempts;
  expect(attempt!.state).toBe("NO_RESOURCE");
  expect(attempt!.message).toMatch(/^every live slave with the dimensions \[\] is held: s1 \(quarantined by itself: disk: \S+cache has [\d.]+ \w+ free, under the 1000000\.0 TiB a task needs; .*\) \(waited \d+ s\)$/);
}, E2E_TEST_TIMEOUT_MS);

/** A tree with one file of `mib` MiB: the task's inputs. */
const bigTree = (mib: number) => ({ "t.sh": shellScript("true"), "data.bin": "x".repeat(mib * 2 ** 20) });

test("a task whose inputs are bigger than the slave's --max-cache-size fails before fetching, with both sizes; the slave stays healthy", async () => {
  const c = await setup();
  await c.startMaster();
  // One infrastructure failure would quarantine it: none may be counted.
  await c.startSlave("s1", 1, ["--max-cache-size", "20MiB", "--max-infra-failures", "1"]);
  const hash = await c.archive(bigTree(30), ["./t.sh"]);
  const jobId = await c.submitNoWait([{ isolate_hash: hash, description: "too big", max_retries: 1 }]);
  await c.api.waitFinished(jobId);
  const attempts = (await c.api.tasks(jobId))[0]!.attempts;
  // A test failure: its retry was spent (on the only slave there is), and failed the same way.
  expect(attempts.map((a) => a.state)).toEqual(["FAILED", "FAILED"]);
  expect(attempts[0]!.message).toBe(`the inputs of manifest ${hash} need 30.0 MiB, the cache holds 20.0 MiB (its size limit); run it on a slave with a bigger cache, or make the tree smaller`);
  expect(attempts[0]!.fetch_done_at).toBeNull();
  const view = await c.api.get<SlaveView>("/api/v1/slaves/s1");
  expect(view).toMatchObject({ state: "idle", hold: null, infra_failures: [] });
  const small = await c.submitNoWait([{ isolate_hash: await c.archive(bigTree(1), ["./t.sh"]), description: "fits" }]);
  expect((await c.api.waitFinished(small)).counts.succeeded).toBe(1);
}, E2E_TEST_TIMEOUT_MS);

// The case: a slave's cache on a 20 MB tmpfs, --min-free-disk 1MiB so the disk check lets it work.
const mounts = new TempDirs();
const mounted: string[] = [];
afterEach(async () => {
  for (const dir of mounted.splice(0)) Bun.spawnSync(["umount", "-l", dir]);
  await mounts.cleanup();
});
const canMount = (() => {
  if (process.platform !== "linux" || process.getuid?.() !== 0) return false;
  const probe = Bun.spawnSync(["sh", "-c", 'd=$(mktemp -d) && mount -t tmpfs -o size=1m tmpfs "$d" && umount "$d"; r=$?; rmdir "$d"; exit $r']);
  return probe.exitCode === 0;
})();

test.skipIf(!canMount)(`a task bigger than the slave's cache filesystem (a 20 MiB tmpfs) fails with both sizes, not as the slave's infrastructure failure${canMount ? "" : " [skipped: needs root and mount -t tmpfs]"}`, async () => {
  const c = await setup();
  await c.startMaster();
  const disk = await mounts.make("dt-e2e-tmpfs-");
  expect(Bun.spawnSync(["mount", "-t", "tmpfs", "-o", "size=20m", "tmpfs", disk]).exitCode).toBe(0);
  mounted.push(disk);
  mkdirSync(join(disk, "cache"));
  await c.startSlave("s1", 1, ["--cache-dir", join(disk, "cache"), "--min-free-disk", "1MiB", "--max-infra-failures", "1"]);
  const hash = await c.archive(bigTree(30), ["./t.sh"]);
  const jobId = await c.submitNoWait([{ isolate_hash: hash, description: "too big" }]);
  await c.api.waitFinished(jobId);
  const [attempt] = (await c.api.tasks(jobId))[0]!.attempts;
  expect(attempt!.state).toBe("FAILED");
  expect(attempt!.message).toBe(`the inputs of manifest ${hash} need 30.0 MiB, the cache holds 20.0 MiB (the size of the filesystem of ${join(disk, "cache")}); run it on a slave with a bigger cache, or make the tree smaller`);
  expect(await c.api.get<SlaveView>("/api/v1/slaves/s1")).toMatchObject({ state: "idle", hold: null, infra_failures: [] });
}, E2E_TEST_TIMEOUT_MS);
