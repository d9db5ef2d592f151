/**
 * A NO_RESOURCE message names the task's dimensions, which a job chooses
 * (up to 32 keys and values of 256 characters each, control characters
 * allowed): shown in full, JSON-escaped, they made a message past MySQL's
 * 64 KiB TEXT column for dimensions that fit the task's own, and every
 * sweep failed on that task, leaving it and the tasks after it QUEUED for
 * good.
 */
import { afterEach, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ManualClock } from "../../src/common/clock.ts";
import { createLogger } from "../../src/common/log.ts";
import { FsArtifactStore } from "../../src/master/artifacts/fs-artifact-store.ts";
import { LiveLogs } from "../../src/master/artifacts/live-logs.ts";
import { Master } from "../../src/master/master.ts";
import { MysqlRepo } from "../../src/master/repo/mysql.ts";
import { SqliteRepo } from "../../src/master/repo/sqlite.ts";
import type { Repo } from "../../src/master/repo/repo.ts";
import { takeMysqlDatabase } from "../helpers/mysql-databases.ts";
import { HASH } from "./helpers.ts";

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  // Last in, first out: the repo closes before its database is released.
  for (const c of cleanups.splice(0).reverse()) await c();
});

const mysqlUrl = process.env.DT_TEST_MYSQL_URL;
if (!mysqlUrl) console.warn("SKIP NO_RESOURCE message on MySQL: DT_TEST_MYSQL_URL is not set (e.g. mysql://root@127.0.0.1:3306/dt_test)");

/**
 * Dimensions of control characters (JSON writes each as six) whose JSON just
 * fits MySQL's TEXT column (65,535 bytes), so the job is stored; the
 * message naming them, with its words around, does not.
 */
function hostileDimensions(): Record<string, string> {
  const dims: Record<string, string> = Object.fromEntries(Array.from({ length: 32 }, (_, i) => [`${i}`.padStart(150, "\u0001"), "\u0001".repeat(150)]));
  const keys = Object.keys(dims);
  for (let i = 0; JSON.stringify(dims).length + 6 <= 65_535; i++) dims[keys[i % keys.length]!] += "\u0001";
  return dims;
}

async function scenario(repo: Repo): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "dt-no-resource-msg-"));
  const clock = new ManualClock();
  const master = new Master({
    repo, artifacts: new FsArtifactStore(join(dir, "artifacts")), liveLogs: new LiveLogs(join(dir, "live")), clock, log: createLogger({ level: "silent" }),
    newId: () => crypto.randomUUID(), publicUrl: "http://dt.test",
    dispatch: { leaseTtlMs: 30_000, heartbeatIntervalMs: 5_000, noResourceTimeoutMs: 60_000, isolateServer: "http://dt.test", maxWaitMs: 0, maxInfraRequeues: 3 },
  });
  cleanups.push(async () => {
    master.dispatcher.close();
    await repo.close();
    rmSync(dir, { recursive: true, force: true });
  });
  await master.dispatcher.rebuild();
  await master.submitJob({ job_id: "hostile.1.1", tasks: [{ isolate_hash: HASH, description: "hostile", dimensions: hostileDimensions() }] });
  await master.submitJob({ job_id: "plain.1.1", tasks: [{ isolate_hash: HASH, description: "plain", dimensions: { gpu: "yes" } }] });
  await master.dispatcher.sweep();
  clock.advance(61_000);
  await master.dispatcher.sweep();
  const hostile = (await repo.getAttempts("hostile.1.1"))[0]!;
  expect(hostile.state).toBe("NO_RESOURCE");
  expect(hostile.message!.length).toBeLessThan(4_000);
  expect(hostile.message).toStartWith('no live slave has the dimensions [["\\u0001');
  expect(hostile.message).toEndWith("… (waited 61 s)");
  expect((await repo.getAttempts("plain.1.1"))[0]!).toMatchObject({ state: "NO_RESOURCE", message: 'no live slave has the dimensions [["gpu","yes"]] (waited 61 s)' });
}

test("on SQLite: the hostile task's message is cut short, and both tasks end NO_RESOURCE", async () => {
  await scenario(await SqliteRepo.open(":memory:", { clock: new ManualClock() }));
});

describe.skipIf(!mysqlUrl)("on MySQL/MariaDB", () => {
  test("the hostile task's message fits its column, and both tasks end NO_RESOURCE", async () => {
    const database = await takeMysqlDatabase(mysqlUrl!);
    cleanups.push(database.release);
    await scenario(await MysqlRepo.open(database.url));
  });
});
