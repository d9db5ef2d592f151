/**
 * `bun bench/isolate.ts [--runs N] [--work DIR] [--dt PATH] [--max-minutes M]`
 *
 * Benchmarks dt's isolate path (archive, isolate-server, run-isolated) on a
 * generated 1 GiB / 10,000-file tree against baselines measured in the same
 * run: tar|gzip and sha256sum for archiving, a tar|tar copy for a cold
 * fetch, `cp -al` for mapping a warm tree. Prints medians with min–max and
 * the ratio to each baseline. See bench/README.md.
 */
import { existsSync, mkdirSync, readFileSync, rmSync } from "node:fs";
import { join, resolve } from "node:path";
import { killAll, privateBinary, runBench, startIsolateServer, timedRun, timedShell, type RunningServer } from "./isolate/procs.ts";
import { machineDescription, publishResults, resultTables } from "./isolate/report.ts";
import { editProbe, ensureTree, restorePendingProbe, type GeneratedTree } from "./isolate/tree.ts";

const repo = resolve(import.meta.dir, "..");

function parseArgs(argv: string[]) {
  const options = { runs: 3, work: join(repo, "bench", ".work"), dt: join(repo, "dist", "dt"), maxMinutes: 14 };
  for (let i = 0; i < argv.length; i++) {
    const [flag, inline] = argv[i]!.split(/=(.*)/s, 2) as [string, string | undefined];
    const value = () => inline ?? argv[++i] ?? fail(`${flag} needs a value`);
    if (flag === "--runs") options.runs = Number(value());
    else if (flag === "--work") options.work = resolve(value());
    else if (flag === "--dt") options.dt = resolve(value());
    else if (flag === "--max-minutes") options.maxMinutes = Number(value());
    else fail(`unknown flag ${flag}; usage: bun bench/isolate.ts [--runs N] [--work DIR] [--dt PATH] [--max-minutes M]`);
  }
  if (!Number.isInteger(options.runs) || options.runs < 1) fail(`--runs must be a positive integer`);
  if (!(options.maxMinutes > 0)) fail(`--max-minutes must be a positive number`);
  return options;
}

function fail(message: string): never {
  console.error(`bench: ${message}`);
  process.exit(2);
}

/** One command's ceiling: tar|gzip of 1 GiB takes ~30 s here; ten times that means something hung. */
const COMMAND_TIMEOUT_MS = 300_000;

/** The stats object `dt archive --log-format json` logs (see src/commands/archive.ts). */
interface ArchiveStats {
  files: number;
  bytes: number;
  hashCacheHits: number;
  hashedFiles: number;
  upload: { checked: number; uploadedItems: number; uploadedBytes: number; batches: number };
  phasesMs: { walk: number; hash: number; upload: number };
}

/** The parts of run-isolated's --json result that the bench reads. */
interface RunIsolatedJson {
  exit_code: number | null;
  internal_failure: string | null;
  task_error: string | null;
  phases_ms: { fetch: number; map: number; run: number; cleanup: number };
  stats: { cache: { items_hot: number; bytes_hot: number; items_cold: number; bytes_cold: number } };
}

class Bench {
  readonly samples = new Map<string, number[]>();
  readonly failures: string[] = [];
  /** The first run's manifest digest of the unchanged tree. */
  coldDigest: string | undefined;

  constructor(
    readonly dt: string,
    readonly tree: GeneratedTree,
    readonly scratch: string,
  ) {}

  record(name: string, value: number): void {
    this.samples.set(name, [...(this.samples.get(name) ?? []), value]);
  }

  get(name: string): number[] {
    return this.samples.get(name) ?? [];
  }

  /** Records a correctness check; the bench exits non-zero if any failed. */
  check(ok: boolean, message: string): void {
    if (!ok) {
      this.failures.push(message);
      console.error(`bench: CHECK FAILED: ${message}`);
    }
  }

  async archive(url: string, hashCache: string, isolated: string): Promise<{ ms: number; digest: string; stats: ArchiveStats }> {
    flushDirtyPages();
    const { ms, stdout, stderr } = await timedRun(
      [this.dt, "archive", "--isolate-server", url, "--hash-cache", hashCache, "--root", this.tree.dir, "--path", ".", "-s", isolated, "--log-format", "json", "--", "/bin/true"],
      { timeoutMs: COMMAND_TIMEOUT_MS },
    );
    const digest = /^([0-9a-f]{64}) {2}/m.exec(stdout)?.[1];
    const statsLine = stderr.split("\n").map(parseJsonLine).find((o) => o?.stats);
    if (!digest || !statsLine) throw new Error(`dt archive printed no digest or no stats line:\nstdout: ${stdout}\nstderr: ${stderr.slice(-2000)}`);
    return { ms, digest, stats: statsLine.stats as ArchiveStats };
  }

  async runIsolated(url: string, digest: string, cache: string, runsDir: string, label: string): Promise<{ ms: number; result: RunIsolatedJson }> {
    flushDirtyPages();
    const json = join(this.scratch, `${label}.json`);
    const { ms } = await timedRun(
      [this.dt, "run-isolated", "--isolate-server", url, "--hash", digest, "--cache", cache, "--root-dir", runsDir, "--json", json, "--log-level", "warn"],
      { timeoutMs: COMMAND_TIMEOUT_MS },
    );
    const result = JSON.parse(readFileSync(json, "utf8")) as RunIsolatedJson;
    this.check(result.exit_code === 0 && !result.internal_failure && !result.task_error, `${label}: run-isolated failed: ${JSON.stringify(result).slice(0, 500)}`);
    return { ms, result };
  }

  /** A baseline command, run in the tree, after the same page-cache flush as dt's commands. */
  async baseline(script: string): Promise<number> {
    flushDirtyPages();
    return (await timedShell(script, { cwd: this.tree.dir, timeoutMs: COMMAND_TIMEOUT_MS })).ms;
  }
}

function parseJsonLine(line: string): Record<string, any> | undefined {
  try {
    return JSON.parse(line);
  } catch {
    return undefined;
  }
}

/**
 * Writes back dirty pages before each timed step, so one step's 1 GiB of
 * writes is not flushed on the next step's clock. It does not drop the page
 * cache (that needs root); the tree stays cached, on purpose (see README).
 */
function flushDirtyPages(): void {
  Bun.spawnSync(["sync"]);
}

/** One round of every measurement, with its own server, hash cache and local cache. */
async function measureOnce(bench: Bench, run: number): Promise<void> {
  const dir = join(bench.scratch, `run-${run}`);
  mkdirSync(dir, { recursive: true });
  const q = (p: string) => `'${p.replaceAll("'", `'\\''`)}'`;
  let server: RunningServer | undefined;
  try {
    server = await startIsolateServer(bench.dt, join(dir, "server"));
    const hashCache = join(dir, "hashes.sqlite");

    bench.record("sha256sum", await bench.baseline("find . -type f -print0 | xargs -0 sha256sum > /dev/null"));
    bench.record("tar|gzip", await bench.baseline("tar -cf - . | gzip -1 > /dev/null"));

    // (a) cold archive: empty server, empty hash cache.
    const cold = await bench.archive(server.url, hashCache, join(dir, "cold.isolated"));
    bench.record("archive cold", cold.ms);
    for (const [k, v] of Object.entries(cold.stats.phasesMs)) bench.record(`archive cold ${k}`, v);
    bench.check(cold.stats.files === bench.tree.files, `(a) archived ${cold.stats.files} files, expected ${bench.tree.files}`);
    // The same tree must give the same manifest every run; a different one means (c)'s edit was not undone.
    bench.check(bench.coldDigest === undefined || bench.coldDigest === cold.digest, `(a) run ${run} archived to ${cold.digest}, run 1 to ${bench.coldDigest}: the tree changed between runs`);
    bench.coldDigest ??= cold.digest;
    bench.check(cold.stats.upload.uploadedItems === bench.tree.files + 1, `(a) uploaded ${cold.stats.upload.uploadedItems} blobs, expected ${bench.tree.files + 1} (every file and the manifest)`);

    // (b) the same tree again: every hash from the cache, nothing to upload.
    const again = await bench.archive(server.url, hashCache, join(dir, "again.isolated"));
    bench.record("archive unchanged", again.ms);
    bench.record("archive unchanged uploaded", again.stats.upload.uploadedItems);
    bench.record("archive unchanged hashed", again.stats.hashedFiles);
    for (const [k, v] of Object.entries(again.stats.phasesMs)) bench.record(`archive unchanged ${k}`, v);
    bench.check(again.stats.upload.uploadedItems === 0, `(b) re-archive uploaded ${again.stats.upload.uploadedItems} blobs, expected 0`);
    bench.check(again.digest === cold.digest, `(b) re-archive digest ${again.digest} differs from the cold one ${cold.digest}`);

    // (c) one small file edited: that blob and the new manifest, nothing else.
    const restore = editProbe(bench.tree.dir, bench.tree.probeFile, join(bench.scratch, "probe-backup.json"), run);
    try {
      const edited = await bench.archive(server.url, hashCache, join(dir, "edited.isolated"));
      bench.record("archive one edit", edited.ms);
      bench.record("archive one edit uploaded", edited.stats.upload.uploadedItems);
      bench.record("archive one edit hashed", edited.stats.hashedFiles);
      bench.check(edited.stats.upload.uploadedItems === 2, `(c) after editing ${bench.tree.probeFile}, uploaded ${edited.stats.upload.uploadedItems} blobs, expected 2`);
    } finally {
      restore();
    }

    // (d) cold run-isolated: an empty local cache fetches every blob over loopback.
    const copyDir = join(dir, "tar-copy");
    mkdirSync(copyDir);
    bench.record("tar|tar copy", await bench.baseline(`tar -cf - . | tar -xf - -C ${q(copyDir)}`));
    rmSync(copyDir, { recursive: true, force: true });
    const cache = join(dir, "cache");
    const runs = join(dir, "runs");
    const coldRun = await bench.runIsolated(server.url, cold.digest, cache, runs, `run-${run}-cold`);
    const c = coldRun.result;
    bench.record("run-isolated cold", coldRun.ms);
    for (const [k, v] of Object.entries(c.phases_ms)) bench.record(`run-isolated cold ${k}`, v);
    bench.record("run-isolated cold MB/s", c.stats.cache.bytes_cold / 1e6 / (c.phases_ms.fetch / 1000));
    bench.check(c.stats.cache.items_cold === bench.tree.files && c.stats.cache.items_hot === 0, `(d) cold cache: ${c.stats.cache.items_cold} cold, ${c.stats.cache.items_hot} hot; expected ${bench.tree.files} cold`);

    // (e) warm run-isolated: every blob cached, so mapping is link(2) per file.
    const linkDir = join(dir, "cp-al");
    bench.record("cp -al", await bench.baseline(`cp -al . ${q(linkDir)}`));
    rmSync(linkDir, { recursive: true, force: true });
    const warmRun = await bench.runIsolated(server.url, cold.digest, cache, runs, `run-${run}-warm`);
    const w = warmRun.result;
    bench.record("run-isolated warm", warmRun.ms);
    for (const [k, v] of Object.entries(w.phases_ms)) bench.record(`run-isolated warm ${k}`, v);
    bench.check(w.stats.cache.items_cold === 0, `(e) warm cache still fetched ${w.stats.cache.items_cold} blobs`);
  } finally {
    await server?.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<number> {
  const options = parseArgs(process.argv.slice(2));
  const started = performance.now();
  if (!existsSync(options.dt)) fail(`${options.dt} does not exist; run \`bun run build\` first`);
  mkdirSync(options.work, { recursive: true });
  const scratch = join(options.work, "scratch");
  const treeDir = join(options.work, "tree");
  restorePendingProbe(treeDir, join(scratch, "probe-backup.json"));
  rmSync(scratch, { recursive: true, force: true });
  mkdirSync(scratch, { recursive: true });

  const { dt, version } = await privateBinary(options.dt, scratch);
  console.log(`bench: ${new Date().toISOString()}; ${version}; ${machineDescription()}`);

  const tree = ensureTree(treeDir, join(options.work, "tree.json"));
  console.log(`bench: tree ${tree.dir}: ${tree.files} files, ${tree.bytes} bytes, ${tree.reused ? "reused" : `generated in ${(tree.generateMs / 1000).toFixed(1)} s`}`);
  const bench = new Bench(dt, tree, scratch);
  // No root to drop the page cache, so the opposite: read the tree once, and every measurement starts warm.
  const warm = await bench.baseline("find . -type f -print0 | xargs -0 cat > /dev/null");
  console.log(`bench: page cache warmed by reading the tree (${(warm / 1000).toFixed(1)} s)`);

  const budgetMs = options.maxMinutes * 60_000;
  let runsDone = 0;
  let lastRunMs = 0;
  for (let run = 1; run <= options.runs; run++) {
    if (performance.now() - started + lastRunMs > budgetMs) {
      console.error(`bench: stopping after ${runsDone} of ${options.runs} runs: another would pass --max-minutes ${options.maxMinutes}`);
      break;
    }
    const runStarted = performance.now();
    await measureOnce(bench, run);
    lastRunMs = performance.now() - runStarted;
    runsDone++;
    console.log(`bench: run ${run}/${options.runs} done in ${(lastRunMs / 1000).toFixed(0)} s`);
  }

  const text = resultTables((name) => bench.get(name), runsDone);
  const header = `${new Date().toISOString().slice(0, 10)}, ${version}, \`bun bench/isolate.ts --runs ${options.runs}\`\n${machineDescription()}\nTree: ${tree.files} files, ${tree.bytes} bytes (4 binaries + small files), on ${options.work}\n`;
  return publishResults(header, text, bench.failures, options.work);
}

let cleaningUp = false;
async function cleanUp(): Promise<void> {
  if (cleaningUp) return;
  cleaningUp = true;
  await killAll();
  const work = parseArgs(process.argv.slice(2)).work;
  restorePendingProbe(join(work, "tree"), join(work, "scratch", "probe-backup.json"));
  rmSync(join(work, "scratch"), { recursive: true, force: true });
}

await runBench(main, cleanUp, "stopping children and removing scratch files");
