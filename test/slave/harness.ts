import { afterEach } from "bun:test";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { systemClock } from "../../src/common/clock.ts";
import { createLogger } from "../../src/common/log.ts";
import { archiveTargets, targetFromPaths } from "../../src/isolate/archive/archive.ts";
import { DEFAULT_CACHE_LIMITS } from "../../src/isolate/cache/local-cache.ts";
import { CasClient } from "../../src/isolate/cas/client.ts";
import { DEFAULT_MAX_OUTPUTS_BYTES, DEFAULT_MAX_OUTPUTS_FILES } from "../../src/isolate/outputs/upload-outputs.ts";
import { DEFAULT_ARTIFACT_CAP_BYTES } from "../../src/slave/artifacts.ts";
import { Slave } from "../../src/slave/lease-loop.ts";
import { MasterClient } from "../../src/slave/master-client.ts";
import { RunLedger } from "../../src/slave/run-ledger.ts";
import { type TestCas, startCas } from "../helpers/cas.ts";
import { TempDirs } from "../helpers/temp.ts";
import { type TreeSpec, writeTree } from "../helpers/tree.ts";
import { waitUntil } from "../helpers/wait.ts";
import { FakeMaster, startFakeMaster } from "./fake-master.ts";

/** Fast retries: the tests stop the master for a moment, and must not wait out production backoff. */
export const TEST_BACKOFF = { initialMs: 10, maxMs: 100 };

export interface SlaveSetup {
  dir: string;
  cas: TestCas;
  master: FakeMaster;
  /** Writes `spec` into a fresh directory and archives all of it; returns the manifest's digest. */
  archive(spec: TreeSpec, manifest: { command: string[]; relativeCwd?: string }): Promise<string>;
  /** A path for a command to write a pid to; whatever pid it holds is SIGKILLed after the test. */
  pidFile(name: string): string;
  /** Starts a slave in this process against the fake master; `run` is its run() promise. */
  startSlave(options?: SlaveTestOptions): { slave: Slave; run: Promise<void> };
}

export interface SlaveTestOptions {
  slots?: number;
  drainTimeoutMs?: number;
  artifactCapBytes?: number;
  /** Wraps fetch, e.g. to count the calls made while the master is down. */
  fetch?: typeof fetch;
  /** The slave's fetch for the CAS, e.g. to make one kind of request fail. */
  casFetch?: typeof fetch;
  /** Bytes of outputs an attempt may upload (default: dt slave's 1 GiB). */
  maxOutputsBytes?: number;
  /** Keep a run ledger here, as dt slave does in its own directory. */
  ledgerDir?: string;
}

/**
 * For a test file that runs slaves: registers an afterEach that drains and
 * kills every slave, kills the pids the tests' commands wrote down, stops
 * the servers and removes the temp dirs; returns the function that makes a
 * fresh setup for one test.
 */
export function useSlaveSetup(): () => Promise<SlaveSetup> {
  const temps = new TempDirs();
  const cleanups: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => {});
    await temps.cleanup();
  });
  return async () => {
    const dir = await temps.make("dt-slave-");
    const cas = await startCas(join(dir, "cas"));
    cleanups.push(() => cas.stop());
    const master = await startFakeMaster(cas.url);
    cleanups.push(() => master.stop());
    let trees = 0;
    return {
      dir,
      cas,
      master,
      pidFile(name) {
        const path = join(dir, name);
        cleanups.push(async () => killPidIn(path));
        return path;
      },
      async archive(spec, manifest) {
        const root = join(dir, `tree-${++trees}`);
        await writeTree(root, spec);
        const { results } = await archiveTargets([targetFromPaths({ root, paths: ["."], ...manifest })], {
          cas: new CasClient(cas.url),
          log: createLogger({ level: "silent" }),
        });
        return results[0]!.digest.hash;
      },
      startSlave(options = {}) {
        const log = createLogger({ level: process.env.DT_TEST_LOG ?? "silent" });
        const slave = new Slave({
          master: new MasterClient(master.url, { log, fetch: options.fetch, backoff: TEST_BACKOFF, uploadAttempts: 3 }),
          name: "test-slave",
          dimensions: { os: "linux", pool: "test" },
          version: "0.0.0-test",
          slots: options.slots ?? 1,
          drainTimeoutMs: options.drainTimeoutMs ?? 30_000,
          // Short polls, so that a slave stopped by a test is not held by the fake master's long-poll.
          leaseWaitMs: 2_000,
          runner: {
            ...(options.casFetch ? { casFetch: options.casFetch } : {}),
            cacheDir: join(dir, "cache"),
            cacheLimits: DEFAULT_CACHE_LIMITS,
            rootDir: join(dir, "runs"),
            baseEnv: { PATH: process.env.PATH ?? "/usr/bin:/bin" },
            gracePeriodSec: 1,
            artifactCapBytes: options.artifactCapBytes ?? DEFAULT_ARTIFACT_CAP_BYTES,
            outputs: {
              limits: { maxBytes: options.maxOutputsBytes ?? DEFAULT_MAX_OUTPUTS_BYTES, maxFiles: DEFAULT_MAX_OUTPUTS_FILES },
              capName: `--max-outputs-size ${options.maxOutputsBytes ?? "1GiB"}`,
            },
            ...(options.ledgerDir ? { ledger: new RunLedger(options.ledgerDir, log) } : {}),
          },
          log,
          clock: systemClock,
        });
        const run = slave.run();
        cleanups.push(async () => {
          slave.killAll();
          await withDeadline(run, 15_000, "the slave to stop");
        });
        return { slave, run };
      },
    };
  };
}

async function killPidIn(path: string): Promise<void> {
  const pid = Number(await readFile(path, "utf8").catch(() => ""));
  if (!Number.isInteger(pid) || pid <= 0) return;
  try {
    process.kill(pid, "SIGKILL");
  } catch {
    // Gone, as it should be.
  }
}

/** Resolves with `promise`, or rejects naming `what` once `ms` have passed. */
export async function withDeadline<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  try {
    return await Promise.race([promise, deadline]);
  } finally {
    clearTimeout(timer);
  }
}

/** Waits for the stored result of `lease` and returns it. */
export async function resultOf(master: FakeMaster, lease: string, deadlineMs = 10_000) {
  await waitUntil(() => master.results.has(lease), `the result of ${lease}`, deadlineMs);
  return master.results.get(lease)!;
}

/** The pid a test's command wrote to `path`. */
export async function pidIn(path: string): Promise<number> {
  await waitUntil(async () => /^\d+\s*$/.test(await readFile(path, "utf8").catch(() => "")), `a pid in ${path}`);
  return Number(await readFile(path, "utf8"));
}
