/**
 * `bun bench/job-page.ts [--tasks 10000] [--runs 5] [--db sqlite|mysql://...]`
 *
 * What a big job's page costs a real `dt master` (a child process from
 * source, on embedded defaults unless --db): one job of --tasks tasks, all
 * but a few run to a result through the slave API (every 7th failed), the
 * master restarted --runs times; after each start the page is asked cold
 * (the master's first look at the job), then warm, then another job's of
 * the same size for the first time (the master warm, that job not read yet:
 * what opening a job's page usually is), then again after one
 * more result changed the job (what a live page's poll does, once the
 * spacing of expensive reads has passed), and the live region's 304. Prints, per case, the median time to the first byte and to
 * the whole body and the page's size; the baseline is the same master's
 * GET /api/v1/jobs/:id/tasks (every task and attempt as JSON: what the
 * old page read whole before it drew a row), asked in the same runs.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { putManifest } from "../test/master/helpers.ts";

const args = process.argv.slice(2);
const flag = (name: string, def: string) => { const i = args.indexOf(name); return i >= 0 ? args[i + 1]! : def; };
const TASKS = Number(flag("--tasks", "10000"));
const RUNS = Number(flag("--runs", "5"));
const DB = flag("--db", "sqlite");
/** Tasks left queued at the start, one reported before each run's "after a change" view. */
const SPARE = RUNS;
const repo = resolve(import.meta.dir, "..");
const dir = mkdtempSync(join(tmpdir(), "dt-jobpage-"));
const port = 20000 + Math.floor(Math.random() * 20000);
const B = `http://127.0.0.1:${port}`;

const post = async (path: string, body: unknown) => {
  const r = await fetch(`${B}${path}`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
  if (!r.ok) throw new Error(`${path}: ${r.status} ${await r.text()}`);
  return r.json() as Promise<any>;
};

async function startMaster() {
  const child = Bun.spawn(["bun", "src/main.ts", "master", "--port", String(port), "--host", "127.0.0.1", "--db", DB, "--data-dir", dir], { cwd: repo, stdout: "ignore", stderr: "inherit" });
  for (let i = 0; ; i++) {
    try { if ((await fetch(`${B}/healthz`)).ok) return child; } catch {}
    if (i > 300) throw new Error("master did not start");
    await Bun.sleep(100);
  }
}

/** Time to the response's headers (fetch resolves then: the first byte) and to its last byte, and its size. */
async function timed(path: string, headers: Record<string, string> = {}) {
  const t0 = performance.now();
  const res = await fetch(`${B}${path}`, { headers });
  const first = performance.now() - t0;
  const body = await res.arrayBuffer();
  if (res.status !== 200 && res.status !== 304) throw new Error(`${path}: ${res.status}`);
  return { first, whole: performance.now() - t0, bytes: body.byteLength, etag: res.headers.get("etag"), status: res.status };
}

const ident = { name: "bench-slave", dimensions: {}, slots: 500, version: "bench" };
async function runSome(n: number): Promise<number> {
  let done = 0;
  while (done < n) {
    const { leases } = await post("/api/v1/slave/lease", { slave: ident, free: Math.min(500, n - done), wait_ms: 0 });
    if (leases.length === 0) break;
    const now = Date.now();
    await Promise.all(leases.map((l: any, i: number) => {
      const state = (done + i) % 7 === 3 ? "FAILED" : "SUCCEEDED";
      return post("/api/v1/slave/result", {
        lease_id: l.lease_id, job_id: l.job_id, task_id: l.task_id, attempt: l.attempt, state, exit_code: state === "FAILED" ? 1 : 0, message: null,
        times: { fetch_done_at: now, map_done_at: now, command_start_at: now, command_end_at: now + ((done + i) % 97) * 10, upload_done_at: now + 1 },
        cache: null, stdout_key: null, stderr_key: null, artifact_key: null, artifact_missing: false,
      });
    }));
    done += leases.length;
  }
  return done;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
let master = await startMaster();
try {
  const manifest = await putManifest(B, "page");
  const jobId = `page.bench.${port}`;
  const t0 = performance.now();
  // One manifest for every task: their ids differ by index, and the master checks a manifest once.
  await post("/api/v1/jobs", { job_id: jobId, tasks: Array.from({ length: TASKS }, (_, i) => ({ isolate_hash: manifest, description: `suite_${Math.floor(i / 50)}/binary_${i}_test`, max_retries: 0 })) });
  const ran = await runSome(TASKS - SPARE);
  // One job more per master start, run to the end, whose page is first asked once the master has drawn another's: a job's first view on a warm master.
  const others: string[] = [];
  for (let run = 0; run < RUNS; run++) {
    const other = `${jobId}.other${run}`;
    await post("/api/v1/jobs", { job_id: other, tasks: Array.from({ length: TASKS }, (_, i) => ({ isolate_hash: manifest, description: `suite_${Math.floor(i / 50)}/binary_${i}_test`, max_retries: 0 })) });
    await runSome(TASKS);
    others.push(other);
  }
  console.log(`job of ${TASKS} tasks submitted and ${ran} run in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  const page = `/job?job_id=${jobId}`;
  const samples: Record<string, { first: number[]; whole: number[]; bytes: number[] }> = {};
  const add = (name: string, s: { first: number; whole: number; bytes: number }) => {
    const entry = (samples[name] ??= { first: [], whole: [], bytes: [] });
    entry.first.push(s.first);
    entry.whole.push(s.whole);
    entry.bytes.push(s.bytes);
  };
  for (let run = 0; run < RUNS; run++) {
    if (run > 0) {
      master.kill();
      await master.exited;
      master = await startMaster();
    }
    // Baseline first in half the runs, the page first in the other: neither always meets the coldest master.
    const baseline = () => timed(`/api/v1/jobs/${jobId}/tasks`);
    if (run % 2 === 1) add("baseline: GET /api/v1/jobs/:id/tasks", await baseline());
    const cold = await timed(page);
    add("job page, cold (first view after a master start)", cold);
    add("job page, warm (same version)", await timed(page));
    add("another job's page, first view (master warm, job not read yet)", await timed(`/job?job_id=${others[run]}`));
    add("job page, 3rd page sorted by duration", await timed(`${page}&sort=duration&page=3`));
    await runSome(1);
    // Rows that cost a read of 50 ms or more stand for five times that after a change (page-data.ts): wait it out, so this poll reads the change.
    await Bun.sleep(5 * cold.whole + 100);
    const changed = await timed(`${page}&format=fragment`);
    add("live poll after one result (fragment)", changed);
    add("live poll, nothing changed (304)", await timed(`${page}&format=fragment`, { "If-None-Match": changed.etag ?? "" }));
    if (run % 2 === 0) add("baseline: GET /api/v1/jobs/:id/tasks", await baseline());
  }
  const base = samples["baseline: GET /api/v1/jobs/:id/tasks"]!;
  console.log(`\n${TASKS} tasks, ${RUNS} master starts, medians (${DB === "sqlite" ? "embedded SQLite" : DB})\n`);
  console.log("| request | first byte | whole body | size | first byte ÷ baseline's whole body |");
  console.log("|---|---|---|---|---|");
  for (const [name, s] of Object.entries(samples)) {
    console.log(`| ${name} | ${median(s.first).toFixed(0)} ms | ${median(s.whole).toFixed(0)} ms | ${(median(s.bytes) / 1024).toFixed(0)} KB | ${(median(s.first) / median(base.whole)).toFixed(2)} |`);
  }
} finally {
  master.kill();
  await master.exited;
  rmSync(dir, { recursive: true, force: true });
}
