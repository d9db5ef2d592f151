import { existsSync, statSync } from "node:fs";
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { join } from "node:path";
import type { Clock } from "../common/clock.ts";
import type { Logger } from "../common/log.ts";
import type { CacheLimits } from "../isolate/cache/local-cache.ts";
import { CasClient } from "../isolate/cas/client.ts";
import type { OutputLimits } from "../isolate/outputs/collect.ts";
import { type RunIsolatedResult, type RunPhase, runIsolated } from "../isolate/run/run-isolated.ts";
import type { Lease, ReportedTimes, ResultReport, SlavePhase } from "../master/protocol.ts";
import { DEFAULT_RESULT_GLOBS } from "../results/collect.ts";
import { isDtError } from "../common/errors.ts";
import { withCases, withoutCases } from "./case-report.ts";
import { TOO_BIG_ENTRY, findArtifacts, writeArtifactZip } from "./artifacts.ts";
import type { CachePool, ManifestMemo } from "./cache-pool.ts";
import { LogForwarder } from "./log-forwarder.ts";
import type { MasterClient, OutputKind } from "./master-client.ts";
import { type AbortReason, cacheCountsOf, emptyTimes, leaseIds, outcomeOf } from "./outcome.ts";
import { RUN_ID_ENV, type RunLedger } from "./run-ledger.ts";

/** JavaScript timers hold at most 2^31-1 ms; a longer timeout would fire at once. */
const MAX_TIMER_SEC = Math.floor((2 ** 31 - 1) / 1000);

/** What every attempt on this slave shares. */
export interface TaskRunnerConfig {
  /** fetch for the CAS, answering its auth challenges with the slave's account; plain fetch by default. */
  casFetch?: typeof fetch;
  master: MasterClient;
  /** One cache for all slots: LocalCache is safe for several instances, and a blob fetched by one slot is hot for the others. */
  cacheDir: string;
  cacheLimits: CacheLimits;
  /** Where run and log directories are made; on the cache's filesystem so files can be hardlinked. */
  rootDir: string;
  /** The environment a task starts from; the lease's env is added over it. */
  baseEnv: Record<string, string | undefined>;
  /**
   * Seconds from SIGTERM to SIGKILL on timeout, cancel and drain. 5 s, as
   * dist_test's slave: a canceled job should free its slots quickly.
   */
  gracePeriodSec: number;
  /** Uncompressed bytes of artifacts per attempt; DEFAULT_ARTIFACT_CAP_BYTES but for tests. */
  artifactCapBytes: number;
  /**
   * Limits of the outputs tree uploaded from ISOLATED_OUTDIR after each
   * command (`--max-outputs-size`), and how the byte cap was given, for the
   * attempt's message when they are exceeded.
   */
  outputs: { limits: OutputLimits; capName: string };
  /** What a drained attempt is reported with. */
  drainMessage: string;
  log: Logger;
  clock: Clock;
  /**
   * Where each command's process group is written down while it runs, so
   * that the slave's next life can end it if this one is killed (see
   * openSlaveDir); none in tests of the slave alone.
   */
  ledger?: RunLedger;
  /** Open cache instances shared by the slots; made from cacheDir and cacheLimits when absent (tests). */
  caches?: CachePool;
  manifests?: ManifestMemo;
  /** Live log pacing (LogForwarder's defaults when absent). */
  logIntervalMs?: number;
  logChunkBytes?: number;
}

/** An attempt's artifacts, zipped and waiting for upload. */
interface ArchivedArtifacts {
  zip: string | null;
  /** Archiving failed: the report says the artifacts are missing. */
  missing: boolean;
}

/**
 * One attempt, from lease to acknowledged report: runs it with
 * run-isolated, streams its output live, uploads its logs and artifacts,
 * and reports the result until the master has it. `phase` is what the
 * heartbeat reports; `abort` is how the heartbeat (cancel, unknown) and
 * the drain stop it.
 */
export class TaskRun {
  phase: SlavePhase = "FETCHING";
  readonly times: ReportedTimes = emptyTimes();
  /** When this slave took the lease: its fetch phase starts here. */
  readonly leasedAt: number;
  readonly fields: Record<string, unknown>;
  private reason: AbortReason | undefined;
  private commandStarted = false;
  /** Stops the command (SIGTERM, then SIGKILL after the grace period). */
  private readonly cancel = new AbortController();
  /** Stops everything else too: uploads, live logs, the report. Only for a lease the master no longer knows. */
  private readonly drop = new AbortController();
  private stdout: LogForwarder | undefined;
  private stderr: LogForwarder | undefined;
  private markExecuted!: () => void;
  private reported = false;
  /**
   * Settles once the command ran and its outputs are on local disk: only
   * their upload and the report are left, which may wait out a master
   * restart. The slot is free from here, so a slave fed by beanstalkd goes
   * on working meanwhile.
   */
  readonly executed = new Promise<void>((resolve) => (this.markExecuted = resolve));

  constructor(
    readonly lease: Lease,
    private readonly config: TaskRunnerConfig,
    /** Told on each phase change, so the heartbeat can report it at once. */
    private readonly onPhaseChange: () => void = () => {},
  ) {
    this.fields = { job_id: lease.job_id, task_id: lease.task_id, attempt: lease.attempt, lease_id: lease.lease_id };
    this.leasedAt = config.clock.now();
  }

  /**
   * The first reason decides the report (a lease canceled and then drained
   * is reported canceled), but `unknown` always drops it: the master no
   * longer holds the lease.
   */
  abort(reason: AbortReason): void {
    // A heartbeat answered after the report went in names a lease the master just closed: nothing is left to stop.
    if (this.reported) return;
    if (reason === "unknown" && !this.drop.signal.aborted) {
      this.drop.abort();
      this.stdout?.abort();
      this.stderr?.abort();
      this.config.log.info(`dropping ${this.lease.task_id} attempt ${this.lease.attempt}: the master no longer knows the lease`, this.fields);
    }
    if (this.reason) return;
    this.reason = reason;
    if (reason !== "unknown") this.config.log.info(`stopping ${this.lease.task_id} attempt ${this.lease.attempt}: ${reason === "cancel" ? "the job was canceled" : "the slave drained"}`, this.fields);
    this.cancel.abort();
  }

  /** Why the slave stopped the attempt itself, if it did (cancel, unknown, drain). */
  get abortReason(): AbortReason | undefined {
    return this.reason;
  }

  /** Runs and reports; resolves once the master acknowledged the report, or the lease was dropped. */
  async run(): Promise<ResultReport | null> {
    const { config, lease } = this;
    config.log.info(`running ${lease.task_id} attempt ${lease.attempt}: ${lease.description}`, this.fields);
    const report = await this.execute().catch((err): ResultReport => {
      // A bug or a broken disk must still end in a report, never in a slot that hangs.
      config.log.error(`attempt failed in the slave: ${(err as Error).stack ?? err}`, this.fields);
      return { ...this.emptyReport(), state: "INFRA_FAILED", message: `slave error: ${(err as Error).message}` };
    });
    this.markExecuted();
    if (this.drop.signal.aborted) return null;
    const answer = await this.sendReport(report);
    if (!answer) return null;
    this.reported = true;
    config.log.info(`reported ${lease.task_id} attempt ${lease.attempt}: ${report.state}${report.exit_code === null ? "" : ` (exit ${report.exit_code})`}${answer.stale ? "; the master had taken the lease back" : ""}`, { ...this.fields, state: report.state });
    return report;
  }

  /**
   * Sends the report until the master has it. A master that refuses the
   * cases (a body over an older master's limit, a case it would not store)
   * gets the report again without them: the attempt's result must not be
   * lost over its cases.
   */
  private async sendReport(report: ResultReport) {
    const { config, lease } = this;
    try {
      return await config.master.reportResult(report, this.drop.signal);
    } catch (err) {
      const hasCases = report.cases !== undefined || report.result_notes !== undefined;
      if (!hasCases || !(isDtError(err, "invalid_input") || isDtError(err, "too_large"))) throw err;
      config.log.warn(`the master refused the cases of ${lease.task_id} attempt ${lease.attempt}, reporting without them: ${err.message}`, this.fields);
      return config.master.reportResult(withoutCases(report, err.message), this.drop.signal);
    }
  }

  private async execute(): Promise<ResultReport> {
    const { config, lease } = this;
    await mkdir(config.rootDir, { recursive: true });
    // Logs outside run-isolated's run directory: they are uploaded after it is removed.
    const logDir = await mkdtemp(join(config.rootDir, "dt-slave-logs-"));
    const forwarder = (stream: "stdout" | "stderr") =>
      new LogForwarder({
        master: config.master, leaseId: lease.lease_id, stream, path: join(logDir, stream), log: config.log, fields: this.fields,
        intervalMs: config.logIntervalMs, chunkBytes: config.logChunkBytes,
      });
    this.stdout = forwarder("stdout");
    this.stderr = forwarder("stderr");
    if (this.drop.signal.aborted) {
      this.stdout.abort();
      this.stderr.abort();
    }
    let archived: ArchivedArtifacts = { zip: null, missing: false };
    const cache = await config.caches?.acquire();
    try {
      // Written before the spawn: a crash between the spawn and the record still leaves the run id to find the command by.
      const recorded = config.ledger?.open(lease);
      const result = await runIsolated({
        cache,
        manifests: config.manifests,
        hash: lease.isolate_hash,
        cas: new CasClient(lease.isolate_server, { fetch: this.config.casFetch }),
        cacheDir: config.cacheDir,
        cacheLimits: config.cacheLimits,
        rootDir: config.rootDir,
        leakTempDir: false,
        timeoutSec: Math.min(Math.max(0, lease.timeout), MAX_TIMER_SEC),
        gracePeriodSec: config.gracePeriodSec,
        env: recorded ? { ...lease.env, [RUN_ID_ENV]: recorded.runId } : lease.env,
        baseEnv: config.baseEnv,
        logDir,
        extraArgs: lease.extra_args ?? [],
        outputs: config.outputs,
        results: { globs: lease.result_globs ?? DEFAULT_RESULT_GLOBS },
        log: config.log,
        clock: config.clock,
        echoStdout: this.stdout.echo,
        echoStderr: this.stderr.echo,
        signal: this.cancel.signal,
        onSpawn: recorded ? (pid) => recorded.spawned(pid) : undefined,
        onPhase: (phase) => this.enterPhase(phase),
        beforeCleanup: async ({ treeDir }) => {
          if (this.commandStarted && !this.drop.signal.aborted) archived = await this.archiveArtifacts(treeDir, logDir);
        },
        // The command and its group are gone (execute killed what was left): nothing for a next life to end.
      }).finally(() => recorded?.close());
      this.setPhase("UPLOADING");
      // The command is done and its outputs are on local disk: the slot is free while they travel.
      this.markExecuted();
      await Promise.all([this.stdout.close(), this.stderr.close()]);
      const [stdoutKey, stderrKey, artifactKey] = await Promise.all([
        ...(["stdout", "stderr"] as const).map((kind) => (this.commandStarted ? this.upload(kind, join(logDir, kind)) : null)),
        archived.zip ? this.upload("artifacts", archived.zip) : null,
      ]);
      const artifacts = { key: artifactKey ?? null, missing: archived.missing || (archived.zip !== null && !artifactKey) };
      this.times.upload_done_at = config.clock.now();
      return this.reportOf(result, stdoutKey ?? null, stderrKey ?? null, artifacts);
    } finally {
      // The run directory is gone by now: its blobs may be evicted again.
      if (cache) await config.caches!.release(cache);
      this.stdout.abort();
      this.stderr.abort();
      await rm(logDir, { recursive: true, force: true }).catch((err) => config.log.warn(`cannot remove ${logDir}: ${(err as Error).message}`, this.fields));
    }
  }

  private reportOf(result: RunIsolatedResult, stdoutKey: string | null, stderrKey: string | null, artifacts: { key: string | null; missing: boolean }): ResultReport {
    const outcome = outcomeOf(result, this.reason, this.config.drainMessage, this.lease.timeout);
    // Outputs over the cap or lost to a failing CAS are said on the attempt, which keeps its state: the test ran.
    // What the cases say goes first: the verdict may replace the exit's bare words.
    const cases = withCases(outcome.state, outcome.message, result.results);
    if (result.outputs_note) cases.message = cases.message ? `${cases.message}; ${result.outputs_note}` : result.outputs_note;
    return {
      ...this.emptyReport(),
      ...outcome,
      message: cases.message,
      ...cases.fields,
      outputs_ref: result.outputs_ref,
      cache: cacheCountsOf(result),
      stdout_key: stdoutKey,
      stderr_key: stderrKey,
      artifact_key: artifacts.key,
      artifact_missing: artifacts.missing,
    };
  }

  private emptyReport(): ResultReport {
    return {
      ...leaseIds(this.lease), state: "INFRA_FAILED", exit_code: null, message: null, times: this.times, cache: null,
      stdout_key: null, stderr_key: null, artifact_key: null, artifact_missing: false,
    };
  }

  private enterPhase(phase: RunPhase): void {
    const now = this.config.clock.now();
    if (phase === "fetched") this.times.fetch_done_at = now;
    if (phase === "mapped") this.times.map_done_at = now;
    if (phase === "started") {
      this.times.command_start_at = now;
      this.commandStarted = true;
      this.setPhase("RUNNING");
    }
    if (phase === "ended") {
      this.times.command_end_at = now;
      this.setPhase("UPLOADING");
    }
  }

  private setPhase(phase: SlavePhase): void {
    if (this.phase === phase) return;
    this.phase = phase;
    this.onPhaseChange();
  }

  /** The matches of the lease's globs as one zip beside the logs, for upload; a failure is logged and marks the artifacts missing. */
  private async archiveArtifacts(treeDir: string, logDir: string): Promise<ArchivedArtifacts> {
    const globs = this.lease.artifact_archive_globs;
    if (globs.length === 0) return { zip: null, missing: false };
    try {
      const files = await findArtifacts(treeDir, globs, this.config.log, this.fields);
      // As dist_test: no matches, no archive.
      if (files.length === 0) return { zip: null, missing: false };
      const zipPath = join(logDir, "artifacts.zip");
      const summary = await writeArtifactZip(files, zipPath, this.config.artifactCapBytes);
      if (summary.tooBig) {
        this.config.log.warn(`artifacts of ${this.lease.task_id} (${files.length} files, ${summary.inputBytes} bytes) are over the cap of ${this.config.artifactCapBytes} bytes: uploading only ${TOO_BIG_ENTRY}`, this.fields);
      }
      return { zip: zipPath, missing: false };
    } catch (err) {
      this.config.log.warn(`cannot archive the artifacts of ${this.lease.task_id}: ${(err as Error).message}`, this.fields);
      return { zip: null, missing: true };
    }
  }

  /** The key, or null when there is nothing to upload, the upload failed (logged) or the lease was dropped. */
  private async upload(kind: OutputKind, path: string): Promise<string | null> {
    // An empty log is not worth a request (a passing `true` has two): the master shows it empty either way.
    if (!existsSync(path) || statSync(path).size === 0) return null;
    try {
      return await this.config.master.uploadOutput(this.lease.lease_id, kind, path, this.drop.signal);
    } catch (err) {
      this.config.log.warn(`upload of ${kind} failed, reporting without it: ${(err as Error).message}`, this.fields);
      return null;
    }
  }
}
