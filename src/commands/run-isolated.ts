import { defineCommand } from "citty";
import { writeFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { authenticatedFetch, withoutCredentials } from "../common/auth/credentials.ts";
import { DtError } from "../common/errors.ts";
import { parseSize } from "../common/units.ts";
import { parseCacheSize } from "../isolate/cache/cache-size.ts";
import { CasClient } from "../isolate/cas/client.ts";
import { checkHash } from "../isolate/digest.ts";
import { DEFAULT_MAX_OUTPUTS_FILES } from "../isolate/outputs/upload-outputs.ts";
import { exitCodeForSignal } from "../isolate/run/execute.ts";
import { type RunIsolatedResult, runIsolated } from "../isolate/run/run-isolated.ts";
import { DEFAULT_RESULT_GLOBS } from "../results/collect.ts";
import { commandContext, keyValues, logArgs, repeatedFlag, splitAtDashDash } from "./context.ts";
import type { ArgvPolicy } from "./argv.ts";
import { EXIT } from "./exit-codes.ts";

/** Defaults as run_isolated.py had them: a big cache, and room left on the disk. */
const DEFAULT_MAX_CACHE_SIZE = "50GiB";
const DEFAULT_MIN_FREE_SPACE = "2GiB";
const DEFAULT_MAX_ITEMS = 100_000;
/** As a slave's --max-outputs-size: see DEFAULT_MAX_OUTPUTS_BYTES. */
const DEFAULT_MAX_OUTPUTS_SIZE = "1GiB";
/** JavaScript timers hold at most 2^31-1 ms; a longer one would fire at once. */
const MAX_TIMER_SEC = Math.floor((2 ** 31 - 1) / 1000);
/** Seconds between SIGTERM and SIGKILL: Swarming's default, time for a test to flush its logs. */
const DEFAULT_GRACE_PERIOD_SEC = 30;

export const argvPolicy: ArgvPolicy = { afterDashDash: "arguments appended to the manifest's command" };

export default defineCommand({
  meta: {
    name: "run-isolated",
    description: "Fetch the tree of a manifest into the local cache, map it into a fresh directory, and run its command there",
  },
  args: {
    hash: { type: "string", alias: "H", description: "Digest of the .isolated manifest (what dt archive printed)", required: true },
    "isolate-server": { type: "string", alias: "I", description: "CAS URL (or ISOLATE_SERVER, or [isolate] server in the config)" },
    cache: { type: "string", description: "Local blob cache (or DT_CACHE_DIR, or [isolate] cache_dir; default ~/.cache/dt/isolate)" },
    "max-cache-size": { type: "string", description: "Trim the cache to this size", default: DEFAULT_MAX_CACHE_SIZE },
    "min-free-space": { type: "string", description: "Keep this much disk free", default: DEFAULT_MIN_FREE_SPACE },
    "max-items": { type: "string", description: "Most blobs kept in the cache", default: String(DEFAULT_MAX_ITEMS) },
    "leak-temp-dir": { type: "boolean", description: "Keep the run directory for examination", default: false },
    "root-dir": { type: "string", description: "Where run directories are made (default: beside the cache, so files can be hardlinked)" },
    timeout: { type: "string", description: "Seconds before the command's process group gets SIGTERM; 0 for none", default: "0" },
    "grace-period": { type: "string", description: "Seconds from SIGTERM to SIGKILL", default: String(DEFAULT_GRACE_PERIOD_SEC) },
    env: { type: "string", description: "KEY=VALUE for the command's environment; repeatable" },
    "output-dir": { type: "string", description: "ISOLATED_OUTDIR, kept after the run (default: inside the run directory)" },
    "log-dir": { type: "string", description: "Where stdout and stderr files are written (default: inside the run directory)" },
    json: { type: "string", description: "Write the result (exit code, timing, cache stats, outputs_ref, test cases) as JSON here" },
    "result-glob": { type: "string", description: "Where the test results are in ISOLATED_OUTDIR, as a task's result_globs; repeatable (default **/*.xml; gtest's stdout is read too)" },
    "max-outputs-size": { type: "string", description: "Upload ISOLATED_OUTDIR to the CAS after the command (outputs_ref in --json) unless it holds more than this; over it, nothing is uploaded", default: DEFAULT_MAX_OUTPUTS_SIZE },
    ...logArgs,
  },
  async run({ args, rawArgs }) {
    const ctx = commandContext(args);
    const hash = checkHash(args.hash, "--hash");
    const server = ctx.config.require("isolateServer", args["isolate-server"], "--isolate-server");
    const cacheDir = resolve(ctx.config.get("cacheDir", args.cache)!);
    const seconds = (text: string, flag: string) => {
      const n = Number(text);
      if (!Number.isFinite(n) || n < 0) throw new DtError("invalid_input", `${flag}: ${JSON.stringify(text)} is not a number of seconds`);
      if (n > MAX_TIMER_SEC) throw new DtError("invalid_input", `${flag}: ${n} s is longer than the longest supported timer (${MAX_TIMER_SEC} s, about 24 days)`);
      return n;
    };
    const maxOutputsBytes = parseSize(args["max-outputs-size"], "--max-outputs-size");
    const maxItems = Number(args["max-items"]);
    if (!Number.isInteger(maxItems) || maxItems < 1) throw new DtError("invalid_input", `--max-items: ${JSON.stringify(args["max-items"])} is not a positive integer`);

    // First SIGINT/SIGTERM: cancel gracefully (SIGTERM to the test, SIGKILL after the grace period).
    // Second: SIGKILL the test now. dt itself always goes on to clean up and report.
    const abort = new AbortController();
    const kill = new AbortController();
    const onSignal = () => (abort.signal.aborted ? kill.abort() : abort.abort());
    process.on("SIGINT", onSignal);
    process.on("SIGTERM", onSignal);
    let result: RunIsolatedResult;
    try {
      result = await runIsolated({
        hash,
        cas: new CasClient(server, { fetch: authenticatedFetch(ctx.config, [server]) }),
        cacheDir,
        cacheLimits: {
          maxBytes: parseCacheSize(args["max-cache-size"], "--max-cache-size"),
          minFreeBytes: parseSize(args["min-free-space"], "--min-free-space"),
          maxItems,
        },
        rootDir: resolve(args["root-dir"] ?? resolve(dirname(cacheDir), "runs")),
        leakTempDir: args["leak-temp-dir"],
        timeoutSec: seconds(args.timeout, "--timeout"),
        gracePeriodSec: seconds(args["grace-period"], "--grace-period"),
        env: keyValues(repeatedFlag(rawArgs, ["--env"]), "--env"),
        // The account that fetched the tree is not the test's to see (or print into a log).
        baseEnv: withoutCredentials(ctx.env),
        outputDir: args["output-dir"],
        logDir: args["log-dir"],
        extraArgs: splitAtDashDash(rawArgs).rest,
        results: { globs: resultGlobs(repeatedFlag(rawArgs, ["--result-glob"])) },
        outputs: { limits: { maxBytes: maxOutputsBytes, maxFiles: DEFAULT_MAX_OUTPUTS_FILES }, capName: `--max-outputs-size ${args["max-outputs-size"]}` },
        log: ctx.log,
        clock: ctx.clock,
        echoStdout: process.stdout,
        echoStderr: process.stderr,
        signal: abort.signal,
        kill: kill.signal,
      });
    } finally {
      process.off("SIGINT", onSignal);
      process.off("SIGTERM", onSignal);
    }
    if (args.json) writeFileSync(resolve(args.json), `${JSON.stringify(result, null, 2)}\n`);
    const cache = result.stats.cache;
    if (result.outputs_ref) ctx.log.info(`outputs: ${result.stats.outputs!.files} files in ${result.outputs_ref.isolatedserver} as ${result.outputs_ref.isolated}`);
    if (result.results) printResults(result.results, ctx.log);
    ctx.log.debug(`fetch ${result.phases_ms.fetch.toFixed(0)} ms (${cache.items_hot} hot, ${cache.items_cold} cold), map ${result.phases_ms.map.toFixed(0)} ms, run ${result.phases_ms.run.toFixed(0)} ms`);
    process.exitCode = runIsolatedExitCode(result, ctx.log);
  },
});

/** --result-glob values, checked as the master checks a task's result_globs. */
function resultGlobs(given: string[]): readonly string[] {
  if (given.length === 0) return DEFAULT_RESULT_GLOBS;
  for (const glob of given) {
    if (glob === "" || glob.startsWith("/") || glob.split("/").includes("..") || glob.includes("\\")) {
      throw new DtError("invalid_input", `--result-glob: ${JSON.stringify(glob)} must be a non-empty glob relative to ISOLATED_OUTDIR, without '..' or '\\'`);
    }
  }
  return given;
}

/** Most failed cases listed by name after a run; the rest are in --json. */
const MAX_LISTED_FAILURES = 20;

/** The cases in a few lines: counts and where from, the failed ones by name, the notes. */
function printResults(results: NonNullable<RunIsolatedResult["results"]>, log: { info: (m: string) => void; warn: (m: string) => void }): void {
  const { counts } = results;
  if (counts.total > 0) {
    const from = results.sources.filter((s) => s.cases > 0).map((s) => s.path).join(", ");
    log.info(`cases: ${counts.total} (${counts.passed} passed, ${counts.failed} failed, ${counts.skipped} skipped, ${counts.crashed} crashed) from ${from}`);
  }
  const bad = results.cases.filter((c) => c.status === "failed" || c.status === "crashed");
  for (const c of bad.slice(0, MAX_LISTED_FAILURES)) log.info(`${c.status.toUpperCase()}  ${c.suite}.${c.name}${c.message ? `  ${c.message.split("\n", 1)[0]}` : ""}`);
  if (bad.length > MAX_LISTED_FAILURES) log.info(`… and ${bad.length - MAX_LISTED_FAILURES} more (see --json)`);
  if (results.verdict) log.warn(results.verdict);
  for (const note of results.notes) log.warn(`results: ${note}`);
}

/**
 * The command's own exit code; 128+N when signal N ended it; 1 when the task
 * could not start; EXIT.internalFailure (86) when dt itself failed, so a
 * slave tells infrastructure from test failures.
 */
export function runIsolatedExitCode(result: RunIsolatedResult, log: { error: (m: string) => void; warn: (m: string) => void }): number {
  if (result.internal_failure) {
    log.error(`internal failure: ${result.internal_failure}`);
    return EXIT.internalFailure;
  }
  if (result.task_error) {
    log.error(result.task_error);
    return 1;
  }
  if (result.canceled && result.exit_code === null && result.signal === null) {
    log.warn("canceled before the command ran");
    return EXIT.interrupted;
  }
  if (result.timed_out) log.warn(`command timed out and was killed (${result.signal ?? `exit ${result.exit_code}`})`);
  if (result.exit_code !== null) return result.exit_code;
  return exitCodeForSignal(result.signal ?? "SIGKILL");
}
