/**
 * `bun bench/big-report-stall.ts [--cases N] [--message-chars N] [--concurrent K] [--db sqlite|mysql://...]`
 *
 * What one (or K concurrent) big result report costs the master while other
 * slaves go on: a real `dt master` (child process) gets a job; slave A
 * leases K tasks and reports each with N cases (every case failed with a
 * message of --message-chars, so the body nears the 64 MiB limit); slave B,
 * holding another lease, heartbeats in a loop and a poller hits /healthz in
 * a loop, and slave C leases queued tasks one at a time. Prints the longest /healthz, heartbeat and lease round trips during the
 * report against their medians before it (the baseline), and the master's
 * peak RSS (VmHWM) against its RSS before.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { putManifest } from "../test/master/helpers.ts";

const args = process.argv.slice(2);
const flag = (name: string, def: string) => { const i = args.indexOf(name); return i >= 0 ? args[i + 1]! : def; };
const N = Number(flag("--cases", "100000"));
const MSG = Number(flag("--message-chars", "300"));
const K = Number(flag("--concurrent", "1"));
const DB = flag("--db", "sqlite");
const repo = resolve(import.meta.dir, "..");
const dir = mkdtempSync(join(tmpdir(), "dt-bigreport-"));
const port = 20000 + Math.floor(Math.random() * 20000);
const B = `http://127.0.0.1:${port}`;
const master = Bun.spawn(["bun", "src/main.ts", "master", "--port", String(port), "--host", "127.0.0.1", "--db", DB === "sqlite" ? "sqlite" : DB, "--data-dir", dir], { cwd: repo, stdout: "ignore", stderr: "inherit" });
const status = (k: string) => Number(new RegExp(`${k}:\\s+(\\d+)`).exec(readFileSync(`/proc/${master.pid}/status`, "utf8"))![1]) / 1024;
const post = async (path: string, body: unknown) => {
  const r = await fetch(`${B}${path}`, { method: "POST", headers: { "content-type": "application/json" }, body: typeof body === "string" ? body : JSON.stringify(body) });
  if (!r.ok) throw new Error(`${path}: ${r.status} ${await r.text()}`);
  return r.json() as Promise<any>;
};
try {
  for (let i = 0; ; i++) { try { if ((await fetch(`${B}/healthz`)).ok) break; } catch {} if (i > 200) throw new Error("master did not start"); await Bun.sleep(100); }
  const hashes = await Promise.all(Array.from({ length: K + 1 + 200 }, (_, i) => putManifest(B, `s${i}`)));
  const jobId = `big-${port}`;
  await post("/api/v1/jobs", { job_id: jobId, tasks: hashes.map((h, i) => ({ isolate_hash: h, description: `bin${i}` })) });
  const ident = (name: string) => ({ name, dimensions: {}, slots: K + 1, version: "test" });
  const leasesA = (await post("/api/v1/slave/lease", { slave: ident("A"), free: K, wait_ms: 0 })).leases;
  const baseLease: number[] = [];
  const leasesB = (await post("/api/v1/slave/lease", { slave: ident("B"), free: 1, wait_ms: 0 })).leases;
  if (leasesA.length !== K || leasesB.length !== 1) throw new Error(`leased ${leasesA.length}+${leasesB.length}`);
  const msg = "x".repeat(MSG);
  const now = Date.now();
  const bodies = leasesA.map((l: any) => JSON.stringify({
    lease_id: l.lease_id, job_id: l.job_id, task_id: l.task_id, attempt: l.attempt, state: "FAILED", exit_code: 1, message: null,
    times: { fetch_done_at: now, map_done_at: now, command_start_at: now, command_end_at: now + 1, upload_done_at: now + 1 },
    cache: null, stdout_key: null, stderr_key: null, artifact_key: null, artifact_missing: false, result_format: "gtest-xml",
    cases: Array.from({ length: N }, (_, i) => ({ suite: `Suite${i % 500}`, name: `Case${i}`, status: "failed", duration_ms: i % 1000, message: msg, file: "t.cc", line: i })),
  }));
  console.log(`report body: ${(bodies[0].length / 2 ** 20).toFixed(1)} MiB x ${K}`);
  // Baseline: round trips with the master idle.
  const timed = async (f: () => Promise<unknown>) => { const t = performance.now(); await f(); return performance.now() - t; };
  const healthz = () => fetch(`${B}/healthz`).then((r) => r.text());
  const beat = () => post("/api/v1/slave/heartbeat", { slave: ident("B"), leases: [{ lease_id: leasesB[0].lease_id, phase: "RUNNING" }] });
  const base: number[] = [], baseBeat: number[] = [];
  for (let i = 0; i < 30; i++) { base.push(await timed(healthz)); baseBeat.push(await timed(beat)); }
  for (let i = 0; i < 10; i++) baseLease.push(await timed(() => post("/api/v1/slave/lease", { slave: ident("C"), free: 1, wait_ms: 0 })));
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  const rssBefore = status("VmRSS");
  let done = false;
  const worst = { healthz: 0, beat: 0, lease: 0 };
  const loop = async (k: keyof typeof worst, f: () => Promise<unknown>) => { while (!done) worst[k] = Math.max(worst[k], await timed(f)); };
  const leaseOne = () => post("/api/v1/slave/lease", { slave: ident("C"), free: 1, wait_ms: 0 });
  const loops = [loop("healthz", healthz), loop("beat", beat), loop("lease", leaseOne)];
  const t0 = performance.now();
  const results = await Promise.all(bodies.map((b: string) => post("/api/v1/slave/result", b)));
  const wall = performance.now() - t0;
  done = true;
  await Promise.all(loops);
  const counts = (await (await fetch(`${B}/api/v1/jobs/${jobId}`)).json() as any).counts.cases;
  console.log(`results: ${JSON.stringify(results[0])}; job cases: ${JSON.stringify(counts)}`);
  console.log(`| reports | wall | /healthz median idle / worst during | heartbeat median idle / worst during | lease of a queued task median idle / worst during | master RSS before / peak (VmHWM) |`);
  console.log(`| ${K} x ${N} cases | ${(wall / 1000).toFixed(1)} s | ${median(base).toFixed(1)} / ${worst.healthz.toFixed(0)} ms (×${(worst.healthz / median(base)).toFixed(0)}) | ${median(baseBeat).toFixed(1)} / ${worst.beat.toFixed(0)} ms | ${median(baseLease).toFixed(1)} / ${worst.lease.toFixed(0)} ms | ${rssBefore.toFixed(0)} / ${status("VmHWM").toFixed(0)} MiB |`);
} finally {
  master.kill();
  await master.exited;
  rmSync(dir, { recursive: true, force: true });
}
