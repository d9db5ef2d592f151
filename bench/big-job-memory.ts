/**
 * `bun bench/big-job-memory.ts [--tasks 100000] [--runs 3] [--old-tree DIR]`
 *
 * What a big job costs a real `dt master`'s memory (a child process from
 * source, embedded SQLite, fresh data dir per run): its RSS after the
 * submit, after the job's summary, every task (GET /api/v1/jobs/:id/tasks,
 * whole), dist_test's /tasks and the job's page were read, and its peak
 * (VmHWM). With --old-tree (a checkout of an earlier commit with its
 * node_modules), the same runs against that master are the baseline.
 * Medians of --runs.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { putManifest } from "../test/master/helpers.ts";

const args = process.argv.slice(2);
const flag = (name: string, def: string) => { const i = args.indexOf(name); return i >= 0 ? args[i + 1]! : def; };
const TASKS = Number(flag("--tasks", "100000"));
const RUNS = Number(flag("--runs", "3"));
const OLD = flag("--old-tree", "");

const mib = (pid: number, key: string) => Number(new RegExp(`${key}:\\s+(\\d+)`).exec(readFileSync(`/proc/${pid}/status`, "utf8"))![1]) / 1024;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

interface Sample { afterSubmit: number; afterReads: number; peak: number; tasksBodyMiB: number; readsMs: number }

async function run(tree: string): Promise<Sample> {
  const dir = mkdtempSync(join(tmpdir(), "dt-bigmem-"));
  const port = 20000 + Math.floor(Math.random() * 20000);
  const base = `http://127.0.0.1:${port}`;
  const master = Bun.spawn(["bun", "src/main.ts", "master", "--port", String(port), "--host", "127.0.0.1", "--data-dir", dir], { cwd: tree, stdout: "ignore", stderr: "ignore" });
  try {
    for (let i = 0; ; i++) {
      try { if ((await fetch(`${base}/healthz`)).ok) break; } catch {}
      if (i > 300) throw new Error("master did not start");
      await Bun.sleep(100);
    }
    const manifest = await putManifest(base, "mem");
    const jobId = `mem.bench.${port}`;
    const res = await fetch(`${base}/api/v1/jobs`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ job_id: jobId, tasks: Array.from({ length: TASKS }, (_, i) => ({ isolate_hash: manifest, description: `suite/binary_${i}_test` })) }) });
    if (res.status !== 201) throw new Error(`submit: ${res.status} ${await res.text()}`);
    Bun.gc(true);
    await Bun.sleep(1_000);
    const afterSubmit = mib(master.pid, "VmRSS");
    const t0 = performance.now();
    await (await fetch(`${base}/api/v1/jobs/${jobId}`)).text();
    const tasks = await (await fetch(`${base}/api/v1/jobs/${jobId}/tasks`)).arrayBuffer();
    await (await fetch(`${base}/tasks?job_id=${jobId}`)).arrayBuffer();
    await (await fetch(`${base}/job?job_id=${jobId}`)).text();
    const readsMs = performance.now() - t0;
    await Bun.sleep(2_000);
    return { afterSubmit, afterReads: mib(master.pid, "VmRSS"), peak: mib(master.pid, "VmHWM"), tasksBodyMiB: tasks.byteLength / 2 ** 20, readsMs };
  } finally {
    master.kill("SIGTERM");
    await master.exited;
    rmSync(dir, { recursive: true, force: true });
  }
}

const trees: [string, string][] = [["this tree", resolve(import.meta.dir, "..")], ...(OLD ? ([["baseline (--old-tree)", resolve(OLD)]] as [string, string][]) : [])];
const results = new Map<string, Sample[]>();
for (let r = 0; r < RUNS; r++) {
  for (const [name, tree] of trees) {
    const s = await run(tree);
    console.log(`${name} run ${r + 1}: ${JSON.stringify(s)}`);
    (results.get(name) ?? results.set(name, []).get(name)!).push(s);
  }
}
console.log(`\n${TASKS.toLocaleString("en-US")}-task job, embedded SQLite, medians of ${RUNS} runs\n`);
console.log("| master | RSS after submit | RSS after summary, tasks, /tasks, page | peak (VmHWM) | GET tasks body | the four reads |");
console.log("|---|---|---|---|---|---|");
for (const [name, samples] of results) {
  const m = (k: keyof Sample) => median(samples.map((s) => s[k]));
  console.log(`| ${name} | ${m("afterSubmit").toFixed(0)} MiB | ${m("afterReads").toFixed(0)} MiB | ${m("peak").toFixed(0)} MiB | ${m("tasksBodyMiB").toFixed(1)} MiB | ${(m("readsMs") / 1000).toFixed(1)} s |`);
}
if (results.size === 2) {
  const [a, b] = [...results.values()];
  const r = (k: keyof Sample) => (median(a!.map((s) => s[k])) / median(b!.map((s) => s[k]))).toFixed(2);
  console.log(`| ratio (this ÷ baseline) | ${r("afterSubmit")} | ${r("afterReads")} | ${r("peak")} | ${r("tasksBodyMiB")} | ${r("readsMs")} |`);
}
