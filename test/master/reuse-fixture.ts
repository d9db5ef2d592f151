/**
 * A real Master on a manual clock over SQLite or MariaDB (DT_TEST_MYSQL_URL),
 * restartable on the same database: the reuse suites' fixture
 * (reuse-dispatch, reuse-review, reuse-join-review). `wrap` may put a
 * Proxy around each repo opened (`hooked`), for a test that needs to act
 * between two of the master's writes.
 */
import { join } from "node:path";
import { ManualClock } from "../../src/common/clock.ts";
import { createLogger } from "../../src/common/log.ts";
import { FsArtifactStore } from "../../src/master/artifacts/fs-artifact-store.ts";
import { LiveLogs } from "../../src/master/artifacts/live-logs.ts";
import { Master } from "../../src/master/master.ts";
import { MysqlRepo } from "../../src/master/repo/mysql.ts";
import type { Repo } from "../../src/master/repo/repo.ts";
import { SqliteRepo } from "../../src/master/repo/sqlite.ts";
import { takeMysqlDatabase } from "../helpers/mysql-databases.ts";
import { TempDirs } from "../helpers/temp.ts";
import type { MasterFixture } from "../web/fixture.ts";

export const T0 = 1_700_000_000_000;
const mysqlUrl = process.env.DT_TEST_MYSQL_URL;

/** A master over `openRepo` on a manual clock; `restart` opens a new Master (and repo) on the same database, as a restarted process would. */
export interface ReuseFixture extends Pick<MasterFixture, "master" | "clock"> {
  /** Stops the master, runs `whileDown` on the database, starts a new one on it. */
  restart(whileDown?: (repo: Repo) => Promise<void>): Promise<void>;
  close(): Promise<void>;
}

export interface FixtureOptions {
  wrap?: (repo: Repo) => Repo;
  /** `dt master --reuse-max-age` in ms; the default (7 days) when absent. */
  reuseMaxAgeMs?: number;
}

async function fixture(openRepo: () => Promise<Repo>, dropDatabase: (() => Promise<void> | void) | undefined, options: FixtureOptions): Promise<ReuseFixture> {
  const temps = new TempDirs();
  const dir = await temps.make("dt-reuse-");
  const clock = new ManualClock(T0);
  const start = async () => {
    const repo = await openRepo();
    const master = new Master({
      repo: options.wrap ? options.wrap(repo) : repo, artifacts: new FsArtifactStore(join(dir, "artifacts")), liveLogs: new LiveLogs(join(dir, "live")), clock, log: createLogger({ level: "silent" }),
      newId: () => crypto.randomUUID(), publicUrl: "http://dt.test",
      dispatch: { leaseTtlMs: 30_000, heartbeatIntervalMs: 5_000, noResourceTimeoutMs: 600_000, isolateServer: "http://dt.test", maxWaitMs: 30_000, maxInfraRequeues: 3, reuseMaxAgeMs: options.reuseMaxAgeMs },
    });
    await master.dispatcher.rebuild();
    return master;
  };
  const f: ReuseFixture = {
    clock,
    master: await start(),
    async restart(whileDown) {
      f.master.dispatcher.close();
      await f.master.deps.repo.close();
      if (whileDown) {
        const repo = await openRepo();
        await whileDown(repo);
        await repo.close();
      }
      f.master = await start();
    },
    async close() {
      f.master.dispatcher.close();
      await f.master.deps.repo.close();
      await dropDatabase?.();
      await temps.cleanup();
    },
  };
  return f;
}

/** [name, open, skip] per dialect; MySQL/MariaDB skips (visibly, once per file that asks) without DT_TEST_MYSQL_URL. */
export function reuseDialects(suite: string): [string, (options?: FixtureOptions) => Promise<ReuseFixture>, boolean][] {
  if (!mysqlUrl) console.warn(`SKIP ${suite} on MySQL: DT_TEST_MYSQL_URL is not set (e.g. mysql://root@127.0.0.1:3306/dt_test)`);
  return [
    ["SQLite", async (options = {}) => {
      const temps = new TempDirs();
      const path = join(await temps.make("dt-reuse-db-"), "dt.sqlite");
      return fixture(() => SqliteRepo.open(path), () => void temps.cleanup(), options);
    }, false],
    ["MySQL/MariaDB", async (options = {}) => {
      const database = await takeMysqlDatabase(mysqlUrl!);
      return fixture(() => MysqlRepo.open(database.url), database.release, options);
    }, !mysqlUrl],
  ];
}

/** Runs `act` once, before (or, with `after`, after) the next call of `method` on the master's repo whose arguments `when` accepts; an `act` that throws fails that call. */
export interface RepoHook {
  /** A Repo method, or any of several. */
  method: string | readonly string[];
  when?: (args: unknown[]) => boolean;
  act: () => Promise<unknown>;
  after?: boolean;
}

/** FixtureOptions whose repos run the first matching hook of `hooks` (taking it out) around each call: a test acts between two of the master's writes. */
export function hooked(hooks: RepoHook[]): FixtureOptions {
  return {
    wrap: (repo: Repo) =>
      new Proxy(repo, {
        get(target, prop, receiver) {
          const value = Reflect.get(target, prop, receiver);
          if (typeof value !== "function") return value;
          return async (...args: unknown[]) => {
            const i = hooks.findIndex((h) => (typeof h.method === "string" ? h.method === prop : h.method.includes(prop as string)) && (h.when?.(args) ?? true));
            const hook = i >= 0 ? hooks.splice(i, 1)[0] : undefined;
            if (hook && !hook.after) await hook.act();
            const result = await value.apply(target, args);
            if (hook?.after) await hook.act();
            return result;
          };
        },
      }),
  };
}
