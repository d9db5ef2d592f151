/**
 * `bun bench/client-latency.ts [--runs N]`: how long after a job's last
 * result `dt watch` exits, with the job long-poll (a held
 * GET /api/v1/jobs/:job?wait_version=) and with plain polling (the same
 * client against a master whose long-poll is off, so it polls every second
 * as before). Each run: a one-task job on an in-process master, a fake slave
 * that leases it and reports through the slave API 0.2 to 1.2 s (spread
 * evenly over the runs) after `dt watch` (a real child process) printed its
 * first line; the time is from
 * sending the result to the child's exit. Runs alternate between the two
 * masters; prints medians and the ratio.
 *
 * `--old-client DIR`: also time the dt of another checkout (DIR/src/main.ts,
 * e.g. `git archive <commit> | tar -x -C DIR` with node_modules linked in)
 * against the master with the long-poll off, as a client from before it.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { systemClock } from "../src/common/clock.ts";
import { createLogger } from "../src/common/log.ts";
import { CasClient } from "../src/isolate/cas/client.ts";
import { encodeIsolated, ISOLATED_VERSION } from "../src/isolate/manifest.ts";
import type { Lease, ResultReport } from "../src/master/protocol.ts";
import { startMasterServer } from "../src/master/server.ts";

const runs = Number(process.argv[process.argv.indexOf("--runs") + 1]) || 7;
const oldClient = process.argv.includes("--old-client") ? process.argv[process.argv.indexOf("--old-client") + 1] : undefined;
const root = new URL("..", import.meta.url).pathname;
const work = mkdtempSync(join(tmpdir(), "dt-client-latency-"));
const slaveIdentity = { name: "bench-slave", dimensions: {}, slots: 1, version: "bench" };

async function master(name: string, longPoll: boolean) {
  const server = await startMasterServer({
    port: 0, host: "127.0.0.1", db: "sqlite", dataDir: join(work, name),
    dispatch: { leaseTtlMs: 30_000, heartbeatIntervalMs: 5_000, noResourceTimeoutMs: 60_000, maxWaitMs: 1_000, maxInfraRequeues: 3 },
    changeWaits: longPoll ? undefined : { maxWaitMs: 0, maxWaiters: 0 },
    clock: systemClock, log: createLogger({ level: "silent" }),
  });
  const manifest = encodeIsolated({ algo: "sha-256", version: ISOLATED_VERSION, files: {}, command: ["true"] });
  await new CasClient(server.url).putBlob(manifest.digest, manifest.bytes);
  return { server, hash: manifest.digest.hash };
}

async function post<T>(url: string, body: unknown): Promise<T> {
  const res = await fetch(url, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
  if (!res.ok) throw new Error(`POST ${url}: ${res.status} ${await res.text()}`);
  return (await res.json()) as T;
}

/** One job: submit, lease, start `dt watch`, report at a random moment, and time the watch's exit. */
async function once(m: Awaited<ReturnType<typeof master>>, run: number, client = root): Promise<number> {
  const url = m.server.url;
  const jobId = `bench.user.${1_700_000_000 + run}.${Math.random().toString(36).slice(2, 8)}`;
  await post(`${url}/api/v1/jobs`, { job_id: jobId, tasks: [{ isolate_hash: m.hash, description: "t" }] });
  const { leases } = await post<{ leases: Lease[] }>(`${url}/api/v1/slave/lease`, { slave: slaveIdentity, free: 1, wait_ms: 1_000 });
  const lease = leases[0]!;
  const child = Bun.spawn(["bun", join(client, "src/main.ts"), "watch", jobId, "--master", url], {
    cwd: work, stdout: "pipe", stderr: "ignore", env: { ...process.env, HOME: work, DIST_TEST_JOB_PATH: join(work, "last-job") },
  });
  const exited = child.exited;
  // Watching once its first progress line is out.
  const reader = child.stdout.getReader();
  const first = await reader.read();
  if (first.done) throw new Error("dt watch ended before printing anything");
  void (async () => { while (!(await reader.read()).done); })();
  // Polling's delay depends on where in its interval the result falls: runs are spread evenly over one, the same for both clients.
  await Bun.sleep(200 + ((run + 0.5) / runs) * 1_000);
  const now = Date.now();
  const report: ResultReport = {
    lease_id: lease.lease_id, job_id: lease.job_id, task_id: lease.task_id, attempt: lease.attempt, slave: slaveIdentity.name, state: "SUCCEEDED", exit_code: 0, message: null,
    times: { fetch_done_at: now, map_done_at: now, command_start_at: now, command_end_at: now, upload_done_at: now },
    cache: null, stdout_key: null, stderr_key: null, artifact_key: null, artifact_missing: false,
  };
  const start = performance.now();
  await post(`${url}/api/v1/slave/result`, report);
  const code = await exited;
  const ms = performance.now() - start;
  if (code !== 0) throw new Error(`dt watch exited ${code}`);
  return ms;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

const masters = { "long-poll": await master("long-poll", true), "polling (1 s)": await master("polling", false) };
try {
  const times: Record<string, number[]> = { "long-poll": [], "polling (1 s)": [] };
  if (oldClient) times[`old client (${oldClient})`] = [];
  for (let i = 0; i < runs; i++) {
    for (const [name, m] of Object.entries(masters)) times[name]!.push(await once(m, i));
    if (oldClient) times[`old client (${oldClient})`]!.push(await once(masters["polling (1 s)"], i, oldClient));
  }
  console.log(`last result → dt watch exited, ${runs} runs each, interleaved; ms\n`);
  console.log("| client | median | min | max |");
  console.log("|---|---|---|---|");
  for (const [name, xs] of Object.entries(times)) console.log(`| ${name} | ${median(xs).toFixed(0)} | ${Math.min(...xs).toFixed(0)} | ${Math.max(...xs).toFixed(0)} |`);
  const ratio = median(times["polling (1 s)"]!) / median(times["long-poll"]!);
  console.log(`\npolling ÷ long-poll (medians): ${ratio.toFixed(1)}`);
} finally {
  for (const m of Object.values(masters)) await m.server.stop(1_000);
  rmSync(work, { recursive: true, force: true });
}
