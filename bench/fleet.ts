/**
 * `bun bench/fleet.ts [--slaves 100,1000] [--slots 8] [--rate 2000] [--idle-seconds 20] [--busy-seconds 40] [--max-warmup-seconds 150] [--db sqlite|mysql://…] [--queue memory|beanstalk://…] [--baseline-tree DIR] [--runs N] [--burst N [--burst-task-ms MS]] [--idle-heartbeats]`
 *
 * One real `dt master` (a child process from source, fresh data dir per
 * fleet size) and a fleet of simulated slaves in this process
 * (bench/fleet/sim-slaves.ts) speaking the slave protocol over HTTP with
 * the slave's defaults (20 s long-polls, a heartbeat every 5 s while an
 * attempt runs; with --idle-heartbeats idle slaves beat too, as beanstalkd
 * slaves do; --busy-seconds 0: the idle phase only). Per fleet
 * size: an idle phase (the fleet connected, nothing queued), then a busy one
 * (a job of --rate tasks submitted every second, attempts lasting
 * 0.8 × slots ÷ rate on average, so about 80% of the slots are busy when
 * the master keeps up). Measured from /proc: the master's CPU (user + system)
 * and RSS; from the fleet: completions and heartbeat round trips; from the
 * master's records: dispatch latency (queued → leased) of the attempts
 * queued in the busy phase. Each row is also given against the first
 * fleet size's, so the table shows how cost grows.
 *
 * With --baseline-tree (a checkout of an earlier commit with its
 * node_modules), each fleet size is measured --runs times against this
 * tree's master and that one's, alternately, and the table gives the
 * medians of both and their ratio: a fix measured before and after in the
 * same run, on the same noisy machine.
 */
import { resolve } from "node:path";
import { putManifest } from "../test/master/helpers.ts";
import { allKnown, procStats, servicePids, servicesCpuS, startFleetMaster } from "./fleet/proc.ts";
import { type BurstRow, measureBurst } from "./fleet/burst.ts";
import { Fleet, durationDraw, seeded } from "./fleet/sim-slaves.ts";

// Bun's fetch holds at most 256 requests in flight by default: a fleet's held long-polls would starve its heartbeats and the job feeder. Run again with room.
if (!process.env.BUN_CONFIG_MAX_HTTP_REQUESTS) {
  const again = Bun.spawn([process.execPath, ...process.argv.slice(1)], { env: { ...process.env, BUN_CONFIG_MAX_HTTP_REQUESTS: "65000" }, stdio: ["inherit", "inherit", "inherit"] });
  process.exit(await again.exited);
}

const args = process.argv.slice(2);
const flag = (name: string, def: string) => { const i = args.indexOf(name); return i >= 0 ? args[i + 1]! : def; };
const SIZES = flag("--slaves", "100,1000").split(",").map(Number);
const SLOTS = Number(flag("--slots", "8"));
const RATE = Number(flag("--rate", "2000"));
const IDLE_S = Number(flag("--idle-seconds", "20"));
const BUSY_S = Number(flag("--busy-seconds", "40"));
/** A big fleet's attempts last long (a mean of 64 s at 10,000 slaves and 1,000 tasks/s): its slots fill over about two of them. */
const MAX_WARMUP_S = Number(flag("--max-warmup-seconds", "150"));
const DB = flag("--db", "sqlite");
const QUEUE = flag("--queue", "memory");
const BASELINE = flag("--baseline-tree", "");
/** `--burst N`: instead of the idle and busy phases, one job of N tasks of --burst-task-ms each (1 s on average). */
const BURST = Number(flag("--burst", "0"));
const BURST_TASK_MS = Number(flag("--burst-task-ms", "1000"));
const RUNS = Number(flag("--runs", BASELINE ? "3" : "1"));
// As slaves that reserve from beanstalkd (or are held) do: a heartbeat every 5 s while idle too; by default only while holding leases, as an HTTP-leasing dt slave.
const IDLE_HEARTBEATS = args.includes("--idle-heartbeats");
const repo = resolve(import.meta.dir, "..");

const pct = (xs: number[], p: number) => (xs.length === 0 ? NaN : [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((xs.length * p) / 100))]!);

interface Row {
  slaves: number;
  idleCpu: number;
  busyCpu: number;
  completionsPerS: number;
  cpuPerTaskMs: number;
  cpuPerSlaveUs: number;
  dispatchP50: number;
  dispatchP99: number;
  heartbeatP99: number;
  rssIdle: number;
  rssBusy: number;
  /** The backing services' CPU (mariadbd, beanstalkd) in the busy phase, in cores; NaN on the embedded defaults. */
  servicesCpu: number;
  /** The simulator's own CPU (this process) in the busy phase, in cores: near 1, it may be what limits the figures. */
  simCpu: number;
  errors: number;
  /** The bench process's own CPU (the simulated fleet) in the idle phase, in cores: it shares the machine with the master. */
  simIdleCpu: number;
}

async function measure(slaves: number, tree: string): Promise<Row> {
  const master = await startFleetMaster({ tree, db: DB, queue: QUEUE, label: String(slaves) });
  const { base, post } = master;
  const meanMs = (0.8 * slaves * SLOTS * 1000) / RATE;
  const fleet = new Fleet({ base, slaves, slots: SLOTS, leaseWaitMs: 20_000, heartbeatMs: 5_000, idleHeartbeats: IDLE_HEARTBEATS, duration: durationDraw(meanMs, seeded(slaves)) });
  try {
    const manifest = await putManifest(base, "fleet");
    await fleet.start();
    await allKnown(base, slaves);

    fleet.resetStats();
    const idle0 = procStats(master.pid);
    const simIdle0 = process.cpuUsage();
    await Bun.sleep(IDLE_S * 1000);
    const idle1 = procStats(master.pid);
    const simSpent = process.cpuUsage(simIdle0);
    const simIdleCpu = (simSpent.user + simSpent.system) / 1e6 / IDLE_S;
    const idleStats = fleet.resetStats();
    // --busy-seconds 0: the idle phase alone (to profile an idle master).
    if (BUSY_S === 0) {
      return {
        slaves, idleCpu: (idle1.cpuS - idle0.cpuS) / IDLE_S, busyCpu: NaN, completionsPerS: NaN, cpuPerTaskMs: NaN, cpuPerSlaveUs: ((idle1.cpuS - idle0.cpuS) / IDLE_S / slaves) * 1e6,
        dispatchP50: NaN, dispatchP99: NaN, heartbeatP99: pct(idleStats.heartbeatMs, 99), rssIdle: idle1.rssMiB, rssBusy: NaN, servicesCpu: NaN, simCpu: NaN, errors: idleStats.errors, simIdleCpu,
      };
    }

    // Busy: a job of RATE tasks a second; measured after a warm-up of twice the mean attempt (at most --max-warmup-seconds), when the slots are about as busy as they will be.
    let feeding = true;
    const jobs: { id: string; at: number }[] = [];
    const feeder = (async () => {
      for (let n = 0; feeding; n++) {
        const t0 = performance.now();
        const id = `fleet.${slaves}.${n}`;
        await post("/api/v1/jobs", { job_id: id, tasks: Array.from({ length: RATE }, (_, i) => ({ isolate_hash: manifest, description: `t${i}`, dimensions: { pool: "sim" } })) });
        jobs.push({ id, at: performance.now() });
        await Bun.sleep(Math.max(0, 1000 - (performance.now() - t0)));
      }
    })();
    await Bun.sleep(Math.min(MAX_WARMUP_S * 1000, 2 * meanMs + 5_000));
    fleet.resetStats();
    const firstMeasured = jobs.length;
    const services = servicePids(DB, QUEUE);
    const services0 = servicesCpuS(services);
    const sim0 = process.cpuUsage();
    const busy0 = procStats(master.pid);
    const t0 = performance.now();
    await Bun.sleep(BUSY_S * 1000);
    const busy1 = procStats(master.pid);
    const sim1 = process.cpuUsage(sim0);
    const services1 = servicesCpuS(services);
    const seconds = (performance.now() - t0) / 1000;
    const busyStats = fleet.resetStats();
    const measuredJobs = jobs.slice(firstMeasured);
    feeding = false;
    await feeder;

    // Dispatch latency from the master's own records: queued → leased, for the attempts leased so far of a sample of the measured jobs.
    const latencies: number[] = [];
    for (const job of measuredJobs.filter((_, i) => i % Math.max(1, Math.floor(measuredJobs.length / 8)) === 0)) {
      const { tasks } = (await (await fetch(`${base}/api/v1/jobs/${job.id}/tasks`)).json()) as { tasks: { attempts: { queued_at: number; leased_at: number | null }[] }[] };
      for (const t of tasks) for (const a of t.attempts) if (a.leased_at !== null) latencies.push(a.leased_at - a.queued_at);
    }
    const completions = busyStats.completions;
    return {
      slaves,
      idleCpu: (idle1.cpuS - idle0.cpuS) / IDLE_S,
      busyCpu: (busy1.cpuS - busy0.cpuS) / seconds,
      completionsPerS: completions / seconds,
      cpuPerTaskMs: completions === 0 ? NaN : ((busy1.cpuS - busy0.cpuS) * 1000) / completions,
      cpuPerSlaveUs: ((idle1.cpuS - idle0.cpuS) / IDLE_S / slaves) * 1e6,
      dispatchP50: pct(latencies, 50),
      dispatchP99: pct(latencies, 99),
      heartbeatP99: pct([...idleStats.heartbeatMs, ...busyStats.heartbeatMs], 99),
      rssIdle: idle1.rssMiB,
      rssBusy: busy1.rssMiB,
      servicesCpu: services.length === 0 ? NaN : (services1 - services0) / seconds,
      simCpu: (sim1.user + sim1.system) / 1e6 / seconds,
      errors: idleStats.errors + busyStats.errors,
      simIdleCpu,
    };
  } finally {
    await fleet.stop();
    await master.stop();
  }
}

const trees: [string, string][] = [["this tree", repo], ...(BASELINE ? ([["baseline", resolve(BASELINE)]] as [string, string][]) : [])];
/** Per fleet size and tree, the median of each figure over the runs. */
function medianRow(rs: Row[]): Row {
  const med = (f: (r: Row) => number) => [...rs.map(f)].sort((a, b) => a - b)[Math.floor(rs.length / 2)]!;
  return {
    slaves: rs[0]!.slaves, idleCpu: med((r) => r.idleCpu), busyCpu: med((r) => r.busyCpu), completionsPerS: med((r) => r.completionsPerS), cpuPerTaskMs: med((r) => r.cpuPerTaskMs),
    cpuPerSlaveUs: med((r) => r.cpuPerSlaveUs), dispatchP50: med((r) => r.dispatchP50), dispatchP99: med((r) => r.dispatchP99), heartbeatP99: med((r) => r.heartbeatP99),
    rssIdle: med((r) => r.rssIdle), rssBusy: med((r) => r.rssBusy), servicesCpu: med((r) => r.servicesCpu), simCpu: med((r) => r.simCpu), errors: Math.max(...rs.map((r) => r.errors)), simIdleCpu: med((r) => r.simIdleCpu),
  };
}
if (BURST > 0) {
  // The burst instead of the idle and busy phases: a fresh master and fleet per size, one job of BURST tasks.
  const burstRows: BurstRow[] = [];
  for (const size of SIZES) {
    const master = await startFleetMaster({ tree: repo, db: DB, queue: QUEUE, label: `burst${size}` });
    try {
      const row = await measureBurst({ master, slaves: size, slots: SLOTS, tasks: BURST, taskMs: BURST_TASK_MS, timeoutS: 1800 });
      burstRows.push(row);
      console.log(`${size} slaves, burst: ${JSON.stringify(row)}`);
    } finally {
      await master.stop();
    }
  }
  console.log(`\n${DB === "sqlite" ? "embedded SQLite" : DB}, queue ${QUEUE}; ${SLOTS} slots a slave; one job of ${BURST} tasks, attempts of ${BURST_TASK_MS} ms on average\n`);
  console.log("| slaves | submit answered | first lease | drained in | completions/s | CPU per task | master RSS at end / peak | errors |");
  console.log("|---|---|---|---|---|---|---|---|");
  for (const r of burstRows) {
    console.log(`| ${r.slaves} | ${(r.submitMs / 1000).toFixed(1)} s | ${(r.firstLeaseMs / 1000).toFixed(1)} s | ${r.drainS.toFixed(0)} s | ${r.completionsPerS.toFixed(0)} | ${r.cpuPerTaskMs.toFixed(2)} ms | ${r.rssEndMiB.toFixed(0)} / ${r.hwmMiB.toFixed(0)} MiB | ${r.errors} |`);
  }
  process.exit(0);
}

const byTree = new Map<string, Row[]>(trees.map(([name]) => [name, []]));
for (const size of SIZES) {
  const runs = new Map<string, Row[]>(trees.map(([name]) => [name, []]));
  for (let run = 0; run < RUNS; run++) {
    for (const [name, tree] of trees) {
      const row = await measure(size, tree);
      runs.get(name)!.push(row);
      console.log(`${size} slaves, ${name}, run ${run + 1}: ${JSON.stringify(row)}`);
    }
  }
  for (const [name] of trees) byTree.get(name)!.push(medianRow(runs.get(name)!));
}
const rows = byTree.get("this tree")!;
const first = rows[0]!;
const vs = (x: number, y: number) => (Number.isFinite(x) && Number.isFinite(y) && y !== 0 ? ` (×${(x / y).toFixed(1)})` : "");
const header = "| slaves | completions/s | master CPU idle | CPU per idle slave | master CPU busy | CPU per task | dispatch p50 / p99 | heartbeat p99 | RSS idle / busy | services CPU busy | simulator CPU idle / busy | errors |";
const line = (r: Row, against: Row) =>
  `| ${r.slaves} | ${r.completionsPerS.toFixed(0)}${vs(r.completionsPerS, against.completionsPerS)} | ${(r.idleCpu * 100).toFixed(1)}%${vs(r.idleCpu, against.idleCpu)} | ${r.cpuPerSlaveUs.toFixed(0)} µs/s | ${(r.busyCpu * 100).toFixed(0)}%${vs(r.busyCpu, against.busyCpu)} | ${r.cpuPerTaskMs.toFixed(2)} ms${vs(r.cpuPerTaskMs, against.cpuPerTaskMs)} | ${r.dispatchP50.toFixed(0)} / ${r.dispatchP99.toFixed(0)} ms | ${r.heartbeatP99.toFixed(0)} ms | ${r.rssIdle.toFixed(0)} / ${r.rssBusy.toFixed(0)} MiB | ${Number.isNaN(r.servicesCpu) ? "–" : `${(r.servicesCpu * 100).toFixed(0)}%`} | ${(r.simIdleCpu * 100).toFixed(0)}% / ${(r.simCpu * 100).toFixed(0)}% | ${r.errors} |`;
const setting = `${DB === "sqlite" ? "embedded SQLite" : DB}, queue ${QUEUE}; ${SLOTS} slots a slave; ${RATE} tasks/s offered; ${IDLE_S} s idle, ${BUSY_S} s busy; ${IDLE_HEARTBEATS ? "idle slaves heartbeat" : "heartbeats while holding leases"}${RUNS > 1 ? `; medians of ${RUNS} runs` : ""}`;
console.log(`\n${setting}; (×n): against ${first.slaves} slaves\n`);
console.log(header);
console.log(header.replace(/[^|]+/g, "---"));
for (const r of rows) console.log(line(r, first));
if (BASELINE) {
  const base = byTree.get("baseline")!;
  console.log(`\nAgainst the baseline (${resolve(BASELINE)}), same run; (×n): this tree ÷ baseline\n`);
  console.log(header.replace("| slaves |", "| slaves | tree |"));
  console.log(header.replace("| slaves |", "| slaves | tree |").replace(/[^|]+/g, "---"));
  rows.forEach((r, i) => {
    console.log(line(base[i]!, base[i]!).replace(/^\| (\d+) \|/, "| $1 | baseline |"));
    console.log(line(r, base[i]!).replace(/^\| (\d+) \|/, "| $1 | this tree |"));
  });
}

// Held connections of a beanstalkd fleet can outlive its stop by a while: the table is out, the run is over.
process.exit(0);
