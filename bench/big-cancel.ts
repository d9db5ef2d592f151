/**
 * `bun bench/big-cancel.ts [--tasks N] [--baseline REF] [--backends sqlite,mysql] [--mysql URL] [--work DIR]`
 *
 * What a huge job costs everyone else, before and after bounded bulk
 * writes, measured in the same run: the master of `--baseline` (default
 * ff753ab, the last commit before them, extracted with `git archive`) and this tree's, each on SQLite and
 * on MariaDB (a fresh database per master, dropped after). Per master:
 *   1. submit a job of N tasks (default 100,000) with no slave, so all stay
 *      QUEUED, while a client GETs /healthz every 50 ms;
 *   2. cancel it, same client: the cancel's time and the slowest /healthz;
 *   3. submit another, start its cancel, SIGKILL the master a third of the
 *      way into the cancel (by the cancel time of step 2), restart it on the
 *      same port and database: seconds from the restart to the first
 *      /healthz 200 and to the first /readyz 200, and whether the job ends
 *      with every task CANCELED.
 * Prints one table, with the ratio after ÷ before for each figure.
 */
import { execSync } from "node:child_process";
import { existsSync, mkdirSync, rmSync, symlinkSync } from "node:fs";
import { join, resolve } from "node:path";
import type { Subprocess } from "bun";
import { encodeIsolated } from "../src/isolate/manifest.ts";
import type { JobCreated, JobSummary } from "../src/master/protocol.ts";

const repo = resolve(import.meta.dir, "..");
const HEALTH_EVERY_MS = 50;
/** The last commit before bounded bulk writes: the default baseline. */
const BEFORE_BULK_BATCHES = "ff753ab";
/** A master that takes longer than this to serve again, or a cancel longer than this, is reported as failed. */
const DEADLINE_MS = 300_000;

interface Options {
  tasks: number;
  baseline: string;
  backends: ("sqlite" | "mysql")[];
  mysql: string;
  work: string;
}

function parseArgs(argv: string[]): Options {
  const o: Options = { tasks: 100_000, baseline: BEFORE_BULK_BATCHES, backends: ["sqlite", "mysql"], mysql: "mysql://root@127.0.0.1:3306", work: join(repo, "bench", ".work", "big-cancel") };
  for (let i = 0; i < argv.length; i++) {
    const [flag, inline] = argv[i]!.split(/=(.*)/s, 2) as [string, string | undefined];
    const value = () => inline ?? argv[++i] ?? fail(`${flag} needs a value`);
    if (flag === "--tasks") o.tasks = Number(value());
    else if (flag === "--baseline") o.baseline = value();
    else if (flag === "--backends") o.backends = value().split(",").map((b) => (b === "sqlite" || b === "mysql" ? b : fail(`--backends: ${b} is not sqlite or mysql`)));
    else if (flag === "--mysql") o.mysql = value().replace(/\/+$/, "");
    else if (flag === "--work") o.work = resolve(value());
    else fail(`unknown flag ${flag}; usage: bun bench/big-cancel.ts [--tasks N] [--baseline REF] [--backends sqlite,mysql] [--mysql URL] [--work DIR]`);
  }
  if (!Number.isInteger(o.tasks) || o.tasks < 1) fail(`--tasks ${o.tasks}: a positive integer`);
  return o;
}

function fail(message: string): never {
  console.error(`big-cancel: ${message}`);
  process.exit(2);
}

/** The baseline's source tree, extracted once per commit, with this tree's node_modules. */
function baselineTree(ref: string, work: string): { dir: string; commit: string } {
  const commit = execSync(`git rev-parse --verify ${JSON.stringify(`${ref}^{commit}`)}`, { cwd: repo, encoding: "utf8" }).trim();
  const dir = join(work, `baseline-${commit.slice(0, 12)}`);
  if (!existsSync(join(dir, "src", "main.ts"))) {
    mkdirSync(dir, { recursive: true });
    execSync(`git archive ${commit} | tar -x -C ${JSON.stringify(dir)}`, { cwd: repo });
    symlinkSync(join(repo, "node_modules"), join(dir, "node_modules"));
  }
  return { dir, commit };
}

async function freePort(): Promise<number> {
  const server = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: () => new Response() });
  const port = server.port!;
  await server.stop(true);
  return port;
}

/** One master: its tree, port, data dir and database; `start` may be called again after `kill`. */
class BenchMaster {
  private proc: Subprocess | undefined;
  readonly url: string;
  constructor(private readonly tree: string, readonly port: number, private readonly dataDir: string, private readonly db: string) {
    this.url = `http://127.0.0.1:${port}`;
  }

  start(): void {
    const args = ["bun", join(this.tree, "src", "main.ts"), "master", "--port", String(this.port), "--host", "127.0.0.1", "--data-dir", this.dataDir, "--db", this.db, "--log-level", "warn"];
    this.proc = Bun.spawn(args, { stdout: "ignore", stderr: "inherit", cwd: this.tree });
  }

  kill(): void {
    this.proc?.kill("SIGKILL");
  }

  async stop(): Promise<void> {
    this.proc?.kill("SIGTERM");
    await this.proc?.exited;
  }

  /** Ms from now until `path` answers 200. */
  async until200(path: string): Promise<number> {
    const started = performance.now();
    while (performance.now() - started < DEADLINE_MS) {
      const ok = await fetch(`${this.url}${path}`, { signal: AbortSignal.timeout(2_000) }).then((r) => r.ok, () => false);
      if (ok) return performance.now() - started;
      await Bun.sleep(10);
    }
    throw new Error(`${this.url}${path} did not answer 200 within ${DEADLINE_MS} ms`);
  }

  async call<T>(method: string, path: string, body?: string | Uint8Array): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      const response = await fetch(`${this.url}${path}`, { method, body, headers: typeof body === "string" ? { "Content-Type": "application/json" } : {} });
      const text = await response.text();
      if (response.ok) return JSON.parse(text) as T;
      // A restarted master may ask writes to wait for its rebuild.
      if (response.status === 503 && attempt < 100) {
        await Bun.sleep(1_000);
        continue;
      }
      throw new Error(`${method} ${path}: HTTP ${response.status}: ${text.slice(0, 300)}`);
    }
  }
}

/** GETs /healthz every 50 ms, each in its own request, and keeps the slowest answer (a request still waiting counts as it stands). */
function healthProbe(url: string) {
  let max = 0;
  const inFlight = new Set<number>();
  const timer = setInterval(() => {
    const started = performance.now();
    inFlight.add(started);
    void fetch(`${url}/healthz`).then((r) => r.arrayBuffer(), () => {}).finally(() => {
      inFlight.delete(started);
      max = Math.max(max, performance.now() - started);
    });
  }, HEALTH_EVERY_MS);
  return {
    stop(): number {
      clearInterval(timer);
      for (const started of inFlight) max = Math.max(max, performance.now() - started);
      return max;
    },
  };
}

async function timed<T>(fn: () => Promise<T>): Promise<{ ms: number; value: T }> {
  const started = performance.now();
  const value = await fn();
  return { ms: performance.now() - started, value };
}

async function waitAllCanceled(master: BenchMaster, jobId: string, tasks: number): Promise<JobSummary> {
  const started = performance.now();
  for (;;) {
    const job = await master.call<JobSummary>("GET", `/api/v1/jobs/${encodeURIComponent(jobId)}`);
    if (job.counts.finished === tasks) return job;
    if (performance.now() - started > DEADLINE_MS) throw new Error(`job ${jobId}: ${JSON.stringify(job.counts)} after ${DEADLINE_MS} ms`);
    await Bun.sleep(200);
  }
}

type Row = Record<string, number | string>;

async function measure(tree: string, db: string, dataDir: string, tasks: number): Promise<Row> {
  const master = new BenchMaster(tree, await freePort(), dataDir, db);
  master.start();
  try {
    await master.until200("/readyz");
    const { bytes, digest } = encodeIsolated({ algo: "sha-256", version: "1.4", command: ["true"], files: {} });
    await master.call("PUT", `/api/cas/v1/blobs/${digest.hash}?size=${bytes.byteLength}`, bytes);
    const body = (name: string) => JSON.stringify({ name, tasks: Array.from({ length: tasks }, (_, i) => ({ isolate_hash: digest.hash, description: `${name}-${i}` })) });

    let probe = healthProbe(master.url);
    const submit = await timed(() => master.call<JobCreated>("POST", "/api/v1/jobs", body("first")));
    const submitHealth = probe.stop();
    probe = healthProbe(master.url);
    const cancel = await timed(async () => {
      await master.call("POST", `/api/v1/jobs/${encodeURIComponent(submit.value.job_id)}/cancel`, "{}");
      return waitAllCanceled(master, submit.value.job_id, tasks);
    });
    const cancelHealth = probe.stop();

    // Killed a third of the way into a cancel like the one just timed.
    const second = await master.call<JobCreated>("POST", "/api/v1/jobs", body("second"));
    const cancelling = master.call("POST", `/api/v1/jobs/${encodeURIComponent(second.job_id)}/cancel`, "{}").catch(() => {});
    await Bun.sleep(Math.max(100, cancel.ms / 3));
    master.kill();
    await cancelling;
    const restarted = performance.now();
    master.start();
    const healthz = await master.until200("/healthz");
    const readyz = await master.until200("/readyz") + healthz;
    const after = await waitAllCanceled(master, second.job_id, tasks);
    const restartTotal = performance.now() - restarted;
    return {
      "submit s": submit.ms / 1000, "max /healthz in submit ms": submitHealth,
      "cancel s": cancel.ms / 1000, "max /healthz in cancel ms": cancelHealth,
      "restart→/healthz s": healthz / 1000, "restart→/readyz s": readyz / 1000, "restart→all canceled s": restartTotal / 1000,
      "killed job canceled": after.counts.canceled === tasks ? "all" : `${after.counts.canceled} of ${tasks}`,
    };
  } finally {
    await master.stop();
  }
}

async function main(): Promise<void> {
  const o = parseArgs(process.argv.slice(2));
  mkdirSync(o.work, { recursive: true });
  const baseline = baselineTree(o.baseline, o.work);
  const trees = [{ name: `before (${o.baseline} ${baseline.commit.slice(0, 8)})`, dir: baseline.dir }, { name: "after (this tree)", dir: repo }];
  console.log(`big-cancel: ${o.tasks} tasks; backends ${o.backends.join(", ")}; ${navigator.hardwareConcurrency} CPUs`);
  const results = new Map<string, Row>();
  for (const backend of o.backends) {
    for (const tree of trees) {
      const run = `${backend}-${tree.dir === repo ? "after" : "before"}-${process.pid}`;
      const dataDir = join(o.work, run);
      const dbName = `dt_bench_big_cancel_${run.replaceAll("-", "_")}`;
      const db = backend === "sqlite" ? `sqlite:${join(dataDir, "dt.sqlite")}` : `${o.mysql}/${dbName}`;
      console.log(`… ${backend}, ${tree.name}`);
      try {
        results.set(`${backend}|${tree.name}`, await measure(tree.dir, db, dataDir, o.tasks));
      } catch (err) {
        console.error(`${backend}, ${tree.name}: ${(err as Error).message}`);
      } finally {
        rmSync(dataDir, { recursive: true, force: true });
        if (backend === "mysql") await dropDatabase(o.mysql, dbName);
      }
    }
  }
  printTable(results, o.backends, trees.map((t) => t.name));
}

async function dropDatabase(url: string, name: string): Promise<void> {
  const { createConnection } = await import("mysql2/promise");
  const conn = await createConnection(url);
  await conn.query(`DROP DATABASE IF EXISTS \`${name}\``);
  await conn.end();
}

function printTable(results: Map<string, Row>, backends: readonly string[], trees: readonly string[]): void {
  const metrics = [...new Set([...results.values()].flatMap((r) => Object.keys(r)))];
  const format = (v: number | string | undefined) => (v === undefined ? "—" : typeof v === "string" ? v : v >= 100 ? v.toFixed(0) : v.toFixed(2));
  for (const backend of backends) {
    const [before, after] = trees.map((t) => results.get(`${backend}|${t}`));
    console.log(`\n${backend}\n| figure | ${trees[0]} | ${trees[1]} | after ÷ before |\n|---|---:|---:|---:|`);
    for (const m of metrics) {
      const b = before?.[m];
      const a = after?.[m];
      const ratio = typeof a === "number" && typeof b === "number" && b > 0 ? `${(a / b).toFixed(2)}×` : "";
      console.log(`| ${m} | ${format(b)} | ${format(a)} | ${ratio} |`);
    }
  }
}

await main();
