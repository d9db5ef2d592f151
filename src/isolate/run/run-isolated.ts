import { mkdirSync, mkdtempSync } from "node:fs";
import { isAbsolute, join, resolve } from "node:path";
import type { Clock } from "../../common/clock.ts";
import { DtError, isDtError } from "../../common/errors.ts";
import type { Logger } from "../../common/log.ts";
import { formatBytes } from "../../common/units.ts";
import { type CacheLimits, LocalCache } from "../cache/local-cache.ts";
import type { CasClient } from "../cas/client.ts";
import { checkTreePath } from "../manifest.ts";
import type { OutputLimits } from "../outputs/collect.ts";
import type { OutputsRef } from "../outputs/outputs-ref.ts";
import { uploadOutputs } from "../outputs/upload-outputs.ts";
import { type RunResults, readRunResults } from "./attempt-results.ts";
import { execute } from "./execute.ts";
import { type FetchStats, type ResolvedTree, fetchBlobs, fetchManifest, fetchOne, treeBytes } from "./fetch.ts";
import { mapTree, removeTree } from "./map.ts";

export interface RunIsolatedOptions {
  hash: string;
  cas: CasClient;
  cacheDir: string;
  cacheLimits: CacheLimits;
  /** Where run directories are made; on the cache's filesystem so files can be hardlinked. */
  rootDir: string;
  leakTempDir: boolean;
  timeoutSec: number;
  gracePeriodSec: number;
  /** Added to (and overriding) the inherited environment. */
  env: Record<string, string>;
  baseEnv: Record<string, string | undefined>;
  /** ISOLATED_OUTDIR; a directory inside the run dir when not given. */
  outputDir?: string;
  /** Where stdout and stderr files go; inside the run dir when not given. */
  logDir?: string;
  extraArgs: string[];
  log: Logger;
  clock: Clock;
  echoStdout?: NodeJS.WritableStream;
  echoStderr?: NodeJS.WritableStream;
  /** Aborting cancels: the phase in progress ends, the command's group gets SIGTERM, then SIGKILL after the grace period. */
  signal?: AbortSignal;
  /** Aborting SIGKILLs the command's group at once (a second Ctrl-C). */
  kill?: AbortSignal;
  /**
   * A cache instance the caller keeps open across runs (a slave's slot):
   * used as is, neither trimmed nor closed here; the caller unpins it after
   * the run and trims it now and then. Without it, `cacheDir` is opened,
   * trimmed and closed for this run alone.
   */
  cache?: LocalCache;
  /** Manifests already fetched and checked, by digest; immutable, so a slave reuses them across runs. */
  manifests?: Map<string, ResolvedTree>;
  /** Told the command's pid, its process group's id, as soon as it is spawned (see execute). */
  onSpawn?: (pid: number) => void;
  /** Told as each phase ends, when it happens: a slave reports these to the master live. */
  onPhase?: (phase: RunPhase) => void;
  /**
   * Runs after the command, before the run directory is removed, with the
   * tree's root (the task root artifact globs are relative to) and the
   * output and log directories. A slave collects artifacts here.
   */
  /**
   * Upload what the command left in ISOLATED_OUTDIR to `cas` as an outputs
   * tree (luci's outputs_ref), within these limits; `capName` says in the
   * message how the byte cap was set. Absent: the outputs stay on disk.
   */
  outputs?: { limits: OutputLimits; capName: string };
  /**
   * Read the run's test cases after its command: result files under
   * ISOLATED_OUTDIR matching these globs (a task's `result_globs`) and
   * gtest's console output in its stdout. Absent: none are read.
   */
  results?: { globs: readonly string[] };
  beforeCleanup?: (dirs: { treeDir: string; outputDir: string; logDir: string }) => Promise<void>;
}

/** Errors starting a command that come from the tree it names (missing, not executable), not from the machine. */
const TEST_SPAWN_ERRORS = new Set(["ENOENT", "EACCES", "ENOEXEC", "ENOTDIR", "ELOOP", "ENAMETOOLONG", "EISDIR"]);

/** fetched: the tree is in the cache; mapped: laid out; started/ended: the command. */
export type RunPhase = "fetched" | "mapped" | "started" | "ended";

/** What run-isolated reports (`--json`), in the shape of run_isolated.py's v5 result plus dt's phases. */
export interface RunIsolatedResult {
  version: 1;
  /** The command's exit code; null when it did not run to an exit (signal, internal failure). */
  exit_code: number | null;
  signal: string | null;
  timed_out: boolean;
  /** Same as timed_out; the name run_isolated.py used. */
  had_hard_timeout: boolean;
  canceled: boolean;
  /** Set when dt itself failed (CAS unreachable or failing, disk full): an infrastructure failure, not the test's. */
  internal_failure: string | null;
  /** Set when the task could not start (its manifest or a blob of it not in the CAS, no command, command not found): the task's own fault. */
  task_error: string | null;
  command: string[];
  run_dir: string | null;
  output_dir: string | null;
  stdout_path: string | null;
  stderr_path: string | null;
  duration_ms: number;
  phases_ms: { fetch: number; map: number; run: number; outputs: number; results: number; cleanup: number };
  /** The outputs tree in the CAS (luci's field): null when not asked for, nothing was written, over the cap, or the upload failed. */
  outputs_ref: OutputsRef | null;
  /** Why the outputs are not (all) there: over the cap, the CAS failing, entries left out. Never a failure of the test. */
  outputs_note: string | null;
  /**
   * The test cases read after the command (counts, list, where from, notes);
   * null when not asked for, or the command never ran to an end (it could not
   * start, or was canceled).
   */
  results: RunResults | null;
  stats: {
    cache: FetchStats & { evicted_items: number; evicted_bytes: number };
    /** Files and bytes of the outputs, and what of them the CAS lacked; null when no upload was asked for or tried. */
    outputs: { files: number; bytes: number; uploaded_items: number; uploaded_bytes: number } | null;
  };
}

/**
 * Fetches the tree named by `hash` into the local cache, maps it into a
 * fresh directory, runs its command there and cleans up: what a slave does
 * for one attempt, and what a developer runs to reproduce one.
 */
export async function runIsolated(o: RunIsolatedOptions): Promise<RunIsolatedResult> {
  const started = performance.now();
  const result: RunIsolatedResult = {
    version: 1, exit_code: null, signal: null, timed_out: false, had_hard_timeout: false, canceled: false,
    internal_failure: null, task_error: null, command: [], run_dir: null, output_dir: null, stdout_path: null, stderr_path: null,
    duration_ms: 0, phases_ms: { fetch: 0, map: 0, run: 0, outputs: 0, results: 0, cleanup: 0 },
    outputs_ref: null, outputs_note: null, results: null,
    stats: { cache: { items_hot: 0, bytes_hot: 0, items_cold: 0, bytes_cold: 0, evicted_items: 0, evicted_bytes: 0 }, outputs: null },
  };
  /** The command ran to its end (whatever its exit): its outputs are worth keeping. */
  let commandEnded = false;
  let runRoot: string | undefined;
  let cache: LocalCache | undefined;
  try {
    mkdirSync(o.rootDir, { recursive: true });
    runRoot = mkdtempSync(join(resolve(o.rootDir), "dt-run-"));
    result.run_dir = runRoot;
    const treeDir = join(runRoot, "ir");
    const outputDir = resolve(o.outputDir ?? join(runRoot, "io"));
    const logDir = resolve(o.logDir ?? join(runRoot, "logs"));
    for (const dir of [treeDir, outputDir, logDir]) mkdirSync(dir, { recursive: true });
    result.output_dir = outputDir;

    let t = performance.now();
    const activeCache = o.cache ?? (cache = await LocalCache.open(o.cacheDir, o.cacheLimits, o.clock));
    const tree = o.manifests?.get(o.hash) ?? (await fetchManifest(o.cas, o.hash));
    o.manifests?.set(o.hash, tree);
    // A tree bigger than the cache can ever be fails here, before any fetch: the task's trouble on
    // this slave, not a disk that filled up (which would count towards the slave's quarantine).
    const needed = treeBytes(tree);
    const capacity = await activeCache.capacity();
    if (needed > capacity.bytes) {
      const bound = capacity.bound === "limit" ? "its size limit" : `the size of the filesystem of ${activeCache.dir}`;
      result.task_error = `the inputs of manifest ${o.hash} need ${formatBytes(needed)}, the cache holds ${formatBytes(capacity.bytes)} (${bound}); run it on a slave with a bigger cache, or make the tree smaller`;
      return result;
    }
    const { paths, stats } = await fetchBlobs(o.cas, activeCache, tree);
    Object.assign(result.stats.cache, stats);
    if (cache) {
      const evicted = await cache.trim();
      result.stats.cache.evicted_items = evicted.items;
      result.stats.cache.evicted_bytes = evicted.bytes;
    }
    result.phases_ms.fetch = performance.now() - t;
    o.onPhase?.("fetched");
    if (o.signal?.aborted) {
      result.canceled = true;
      return result;
    }

    t = performance.now();
    const relativeCwd = tree.relativeCwd === "." ? "." : checkTreePath(tree.relativeCwd, `manifest ${o.hash}: relative_cwd`);
    const cwd = join(treeDir, relativeCwd);
    // The command's directory need not hold files (Kudu's build/isolate does not); made before
    // mapping, as read_only 2 leaves no directory writable.
    mkdirSync(cwd, { recursive: true });
    await mapTree(tree, paths, treeDir, (d) => fetchOne(o.cas, activeCache, d));
    result.phases_ms.map = performance.now() - t;
    o.onPhase?.("mapped");
    if (o.signal?.aborted) {
      result.canceled = true;
      return result;
    }

    const substitute = (s: string) => s.replaceAll("${ISOLATED_OUTDIR}", outputDir);
    const command = [...tree.command, ...o.extraArgs].map(substitute);
    result.command = command;
    if (command.length === 0) {
      result.task_error = `manifest ${o.hash} has no command and none was given after --`;
      return result;
    }
    if (!isAbsolute(command[0]!) && command[0]!.includes("/")) command[0] = join(cwd, command[0]!);
    const env: Record<string, string> = {};
    for (const [k, v] of Object.entries(o.baseEnv)) if (v !== undefined) env[k] = v;
    for (const [k, v] of Object.entries(o.env)) env[k] = substitute(v);
    env.ISOLATED_OUTDIR = outputDir;

    result.stdout_path = join(logDir, "stdout");
    result.stderr_path = join(logDir, "stderr");
    t = performance.now();
    try {
      o.onPhase?.("started");
      const run = await execute({
        command, cwd, env, timeoutSec: o.timeoutSec, gracePeriodSec: o.gracePeriodSec,
        stdoutPath: result.stdout_path, stderrPath: result.stderr_path,
        echoStdout: o.echoStdout, echoStderr: o.echoStderr, signal: o.signal, kill: o.kill, onSpawn: o.onSpawn,
      });
      Object.assign(result, { exit_code: run.exitCode, signal: run.signal, timed_out: run.timedOut, had_hard_timeout: run.timedOut, canceled: run.canceled });
      commandEnded = true;
      // The test ran, but its logs are incomplete (disk full): dt's failure, not the test's.
      if (run.logError) result.internal_failure = run.logError;
    } catch (err) {
      // A command that is missing or not executable is the test's own fault; anything else (no processes, memory or files left) is the machine's.
      const code = (err as NodeJS.ErrnoException).code;
      if (code === undefined || TEST_SPAWN_ERRORS.has(code)) result.task_error = `cannot start ${command[0]}: ${(err as Error).message}`;
      else result.internal_failure = `the slave could not start ${command[0]}: ${(err as Error).message}`;
    }
    result.phases_ms.run = performance.now() - t;
    o.onPhase?.("ended");
  } catch (err) {
    // An input the CAS answered 404 for (the manifest, an include, a blob) is the task's: it was
    // never archived there, and no other slave will find it either. A CAS that cannot be reached
    // or fails (5xx) is `unreachable`: the machine's trouble, as before.
    if (isDtError(err, "not_found")) result.task_error = err.message;
    else result.internal_failure = err instanceof DtError ? err.message : `unexpected: ${(err as Error).stack ?? err}`;
  } finally {
    // A canceled run's outputs are nobody's concern; a timed-out one's may say why it hung.
    if (commandEnded && o.outputs && result.output_dir && !result.canceled) {
      const t = performance.now();
      await storeOutputs(o, o.outputs, result.output_dir, result);
      result.phases_ms.outputs = performance.now() - t;
    }
    // Before cleanup, which removes the outputs; a canceled run's cases are as much nobody's concern as its outputs.
    if (commandEnded && o.results && !result.canceled) {
      const t = performance.now();
      result.results = await readRunResults({
        outputDir: result.output_dir, stdoutPath: result.stdout_path, globs: o.results.globs, exitCode: result.exit_code, signal: result.signal,
        timedOutAfterSec: result.timed_out ? o.timeoutSec : null,
      });
      result.phases_ms.results = performance.now() - t;
    }
    const t = performance.now();
    if (runRoot && o.beforeCleanup) {
      await o.beforeCleanup({ treeDir: join(runRoot, "ir"), outputDir: result.output_dir ?? join(runRoot, "io"), logDir: resolve(o.logDir ?? join(runRoot, "logs")) }).catch((err) => {
        result.internal_failure ??= `after the run: ${(err as Error).message}`;
      });
    }
    await cache?.close().catch((err) => o.log.warn(`saving the cache state failed: ${(err as Error).message}`));
    if (runRoot) {
      if (o.leakTempDir) {
        // Written whatever the log level: the developer asked for this directory and needs its path.
        (o.echoStderr ?? process.stderr).write(`Deliberately leaking ${runRoot} for later examination (outputs: ${result.output_dir})\n`);
      } else {
        try {
          removeTree(runRoot);
          result.run_dir = null;
          if (!o.outputDir) result.output_dir = null;
          if (!o.logDir) result.stdout_path = result.stderr_path = null;
        } catch (err) {
          result.internal_failure ??= `cannot remove the run directory ${runRoot}: ${(err as Error).message}`;
        }
      }
    }
    result.phases_ms.cleanup = performance.now() - t;
    result.duration_ms = performance.now() - started;
  }
  return result;
}

/**
 * Uploads the outputs into `result`. A failure (the CAS down after the
 * client's retries, a file gone mid-read) is a note, never an internal
 * failure: the test ran and its result stands; only its outputs are missing.
 */
async function storeOutputs(o: RunIsolatedOptions, outputs: NonNullable<RunIsolatedOptions["outputs"]>, outputDir: string, result: RunIsolatedResult): Promise<void> {
  try {
    const up = await uploadOutputs(outputDir, { cas: o.cas, limits: outputs.limits, capName: outputs.capName, log: o.log });
    result.outputs_ref = up.ref;
    result.outputs_note = up.note;
    result.stats.outputs = { files: up.files, bytes: up.bytes, uploaded_items: up.upload?.uploadedItems ?? 0, uploaded_bytes: up.upload?.uploadedBytes ?? 0 };
    if (up.note) o.log.warn(up.note);
  } catch (err) {
    result.outputs_note = `outputs not uploaded: ${(err as Error).message}`;
    o.log.warn(result.outputs_note);
  }
}
