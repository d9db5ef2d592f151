/**
 * `bun bench/cases-store.ts [--cases N] [--per-task N] [--million] [--backends sqlite,mysql] [--mysql URL]`
 *
 * What storing test cases costs the master, measured against the same work
 * without cases in the same run. A real `dt master` (a child process, on
 * SQLite and on MariaDB) gets a job of N / per-task tasks (default 100,000
 * cases, 1,000 per task); a fake slave leases every task and reports it over
 * HTTP through the slave API, once without cases (the baseline) and once
 * with them; the master's CPU seconds (utime + stime from /proc) over each
 * run are compared. With `--million`, it then reports 1,000,000 case
 * results (10 jobs of 100,000) and prints the master's RSS before and after.
 * Prints one table per backend.
 */
import { readFileSync, rmSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import type { Subprocess } from "bun";
import { encodeIsolated } from "../src/isolate/manifest.ts";
import type { CaseReport, JobSummary, Lease } from "../src/master/protocol.ts";

const repo = resolve(import.meta.dir, "..");
const TICKS_PER_SEC = 100;

interface Options {
  cases: number;
  perTask: number;
  million: boolean;
  backends: ("sqlite" | "mysql")[];
  mysql: string;
}

function fail(message: string): never {
  console.error(`cases-store: ${message}`);
  process.exit(2);
}

function parseArgs(argv: string[]): Options {
  const o: Options = { cases: 100_000, perTask: 1_000, million: false, backends: ["sqlite", "mysql"], mysql: "mysql://root@127.0.0.1:3306" };
  for (let i = 0; i < argv.length; i++) {
    const [flag, inline] = argv[i]!.split(/=(.*)/s, 2) as [string, string | undefined];
    const value = () => inline ?? argv[++i] ?? fail(`${flag} needs a value`);
    if (flag === "--cases") o.cases = Number(value());
    else if (flag === "--per-task") o.perTask = Number(value());
    else if (flag === "--million") o.million = true;
    else if (flag === "--backends") o.backends = value().split(",").map((b) => (b === "sqlite" || b === "mysql" ? b : fail(`--backends: ${b} is not sqlite or mysql`)));
    else if (flag === "--mysql") o.mysql = value().replace(/\/+$/, "");
    else fail(`unknown flag ${flag}`);
  }
  if (!Number.isInteger(o.cases) || !Number.isInteger(o.perTask) || o.perTask < 1 || o.cases < o.perTask) fail("--cases and --per-task: positive integers, cases ≥ per-task");
  return o;
}

/** CPU seconds (user + system) the process has used, from /proc. */
function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
  return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SEC;
}

function rssMiB(pid: number): number {
  const kb = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))![1]);
  return kb / 1024;
}

class BenchMaster {
  readonly proc: Subprocess;
  readonly url: string;
  constructor(port: number, dataDir: string, db: string) {
    this.url = `http://127.0.0.1:${port}`;
    const args = ["bun", join(repo, "src", "main.ts"), "master", "--port", String(port), "--host", "127.0.0.1", "--data-dir", dataDir, "--db", db, "--log-level", "warn"];
    this.proc = Bun.spawn(args, { stdout: "ignore", stderr: "inherit", cwd: repo });
  }
  async ready(): Promise<void> {
    const deadline = Date.now() + 60_000;
    while (Date.now() < deadline) {
      if ((await fetch(`${this.url}/readyz`).catch(() => null))?.status === 200) return;
      await Bun.sleep(50);
    }
    fail("the master did not become ready within 60 s");
  }
  async call<T>(method: string, path: string, body?: unknown): Promise<T> {
    const res = await fetch(`${this.url}${path}`, { method, headers: { "content-type": "application/json" }, body: body === undefined ? undefined : typeof body === "string" || body instanceof Uint8Array ? body : JSON.stringify(body) });
    if (!res.ok) fail(`${method} ${path}: ${res.status} ${(await res.text()).slice(0, 300)}`);
    return (await res.json()) as T;
  }
  stop(): Promise<unknown> {
    this.proc.kill("SIGTERM");
    return this.proc.exited;
  }
}

async function freePort(): Promise<number> {
  const server = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: () => new Response() });
  const port = server.port!;
  await server.stop(true);
  return port;
}

/** One task's report of `perTask` cases, as a gtest binary's might read: a few failures with a message, the rest passed. */
function casesOf(task: number, perTask: number): CaseReport[] {
  return Array.from({ length: perTask }, (_, i) => {
    const failed = i % 100 === 7;
    return {
      suite: `Suite${task}/ParamTest`, name: `Case${i}/${i % 4}`, status: failed ? "failed" : "passed", duration_ms: i % 50,
      message: failed ? `foo_test.cc:${100 + i}: Failure\nExpected equality of these values:\n  x\n    Which is: ${i}\n  ${i + 1}` : null,
      file: failed ? "foo_test.cc" : null, line: failed ? 100 + i : null,
    };
  });
}

/** Submits a job, leases all its tasks and reports each, with cases or without; resolves when every report is answered. */
async function runJob(master: BenchMaster, hash: string, jobId: string, tasks: number, perTask: number, withCases: boolean): Promise<void> {
  await master.call("POST", "/api/v1/jobs", { job_id: jobId, tasks: [{ isolate_hash: hash, description: "bench_binary", shards: tasks }] });
  const slave = { name: "bench-slave", dimensions: {}, slots: 1024, version: "bench" };
  const leases: Lease[] = [];
  while (leases.length < tasks) {
    const got = await master.call<{ leases: Lease[] }>("POST", "/api/v1/slave/lease", { slave, free: Math.min(1024, tasks - leases.length), wait_ms: 0 });
    if (got.leases.length === 0) fail(`only ${leases.length} of ${tasks} tasks leased`);
    leases.push(...got.leases);
  }
  const now = Date.now();
  // Bodies are built before each POST rather than all at once: the bench's own memory stays small.
  for (const [i, lease] of leases.entries()) {
    await master.call("POST", "/api/v1/slave/result", {
      lease_id: lease.lease_id, job_id: lease.job_id, task_id: lease.task_id, attempt: lease.attempt, state: "SUCCEEDED", exit_code: 0, message: null,
      times: { fetch_done_at: now, map_done_at: now, command_start_at: now, command_end_at: now + 1, upload_done_at: now + 1 },
      cache: null, stdout_key: null, stderr_key: null, artifact_key: null, artifact_missing: false, slave: slave.name,
      ...(withCases ? { cases: casesOf(i, perTask), result_format: "gtest-xml" } : {}),
    });
  }
}

async function bench(backend: "sqlite" | "mysql", o: Options): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "dt-cases-bench-"));
  const database = `dt_cases_bench_${Date.now().toString(36)}`;
  const db = backend === "sqlite" ? "sqlite" : `${o.mysql}/${database}`;
  const master = new BenchMaster(await freePort(), dir, db);
  try {
    await master.ready();
    const { bytes, digest } = encodeIsolated({ algo: "sha-256", command: ["./t"], files: {}, version: "1.4" });
    const hash = digest.hash;
    await fetch(`${master.url}/api/cas/v1/blobs/${hash}?size=${bytes.byteLength}`, { method: "PUT", body: bytes });
    const tasks = Math.ceil(o.cases / o.perTask);
    const pid = master.proc.pid;
    // A warm-up job, so that both measured runs find the code compiled and the tables created.
    await runJob(master, hash, "warmup", 4, 100, true);
    const rows: [string, string][] = [];
    // The database server's own CPU, for MariaDB: shared with whatever else uses the server, so an upper bound.
    const serverPid = backend === "mysql" ? Number(Bun.spawnSync(["pidof", "mariadbd", "mysqld"]).stdout.toString().trim().split(/\s+/)[0]) || null : null;
    const measure = async (label: string, jobId: string, withCases: boolean) => {
      const server0 = serverPid ? cpuSeconds(serverPid) : 0;
      const cpu0 = cpuSeconds(pid);
      const t0 = performance.now();
      await runJob(master, hash, jobId, tasks, o.perTask, withCases);
      const summary = await master.call<JobSummary>("GET", `/api/v1/jobs/${jobId}`);
      if (withCases && summary.counts.cases?.total !== tasks * o.perTask) fail(`${jobId}: ${summary.counts.cases?.total} cases counted, ${tasks * o.perTask} reported`);
      const cpu = cpuSeconds(pid) - cpu0;
      const server = serverPid ? `; MariaDB ${(cpuSeconds(serverPid) - server0).toFixed(2)} s CPU` : "";
      rows.push([label, `master ${cpu.toFixed(2)} s CPU, ${((performance.now() - t0) / 1000).toFixed(2)} s wall${server}`]);
      return cpu;
    };
    const without = await measure(`${tasks} reports without cases`, "plain", false);
    const withCases = await measure(`${tasks} reports with ${tasks * o.perTask} cases`, "cases", true);
    rows.push(["extra CPU for the cases", `${(withCases - without).toFixed(2)} s, ${(((withCases - without) / (tasks * o.perTask)) * 1e6).toFixed(1)} µs per case`]);
    rows.push(["ratio with ÷ without", (withCases / without).toFixed(2)]);
    if (o.million) {
      const before = rssMiB(pid);
      const cpu0 = cpuSeconds(pid);
      for (let j = 0; j < 10; j++) {
        await runJob(master, hash, `million-${j}`, 100, 1_000, true);
        const counted = (await master.call<JobSummary>("GET", `/api/v1/jobs/million-${j}`)).counts.cases?.total;
        if (counted !== 100_000) fail(`million-${j}: ${counted} cases counted, 100000 reported`);
      }
      rows.push(["1,000,000 more case results (10 jobs)", `master ${(cpuSeconds(pid) - cpu0).toFixed(2)} s CPU`]);
      rows.push(["master RSS before / after them", `${before.toFixed(0)} MiB / ${rssMiB(pid).toFixed(0)} MiB`]);
    }
    console.log(`\n${backend} (${db.replace(/\/\/[^@]*@/, "//")})`);
    console.log("| measure | value |\n|---|---|");
    for (const [k, v] of rows) console.log(`| ${k} | ${v} |`);
  } finally {
    await master.stop();
    rmSync(dir, { recursive: true, force: true });
    if (backend === "mysql") Bun.spawnSync(["mariadb", "-uroot", "-h127.0.0.1", "-e", `DROP DATABASE IF EXISTS ${database}`]);
  }
}

const options = parseArgs(process.argv.slice(2));
for (const backend of options.backends) await bench(backend, options);
