/**
 * What bench/fleet.ts reads of the processes it measures: CPU and memory from
 * /proc, the backing services' processes, and a MySQL database of its own
 * per measurement.
 */
import mysql from "mysql2/promise";
import { query } from "../../test/helpers/mysql-databases.ts";
import { mkdtempSync, readFileSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const TICKS_PER_S = 100;

/** The master's CPU seconds so far (user + system) and its RSS and peak RSS in MiB. */
export function procStats(pid: number): { cpuS: number; rssMiB: number; hwmMiB: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const kb = (key: string) => Number(new RegExp(`${key}:\\s+(\\d+)`).exec(status)![1]) / 1024;
  return { cpuS: (Number(fields[11]) + Number(fields[12])) / TICKS_PER_S, rssMiB: kb("VmRSS"), hwmMiB: kb("VmHWM") };
}

/** The processes of the backing services (mariadbd; the beanstalkd on --queue's port), whose CPU the table gives beside the master's. */
export function servicePids(db: string, queue: string): number[] {
  const port = queue.startsWith("beanstalk") ? /:(\d+)\/?$/.exec(queue)?.[1] : undefined;
  const pids: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    let cmd: string[];
    try {
      cmd = readFileSync(`/proc/${entry}/cmdline`, "utf8").split("\0");
    } catch {
      continue;
    }
    const exe = cmd[0]?.split("/").at(-1);
    if (db.startsWith("mysql") && exe === "mariadbd") pids.push(Number(entry));
    if (port && exe === "beanstalkd" && cmd.join(" ").includes(port)) pids.push(Number(entry));
  }
  return pids;
}
export const servicesCpuS = (pids: number[]) => pids.reduce((sum, pid) => sum + procStats(pid).cpuS, 0);

/** A database of its own per measurement on a MySQL server (dropped after), so no run reads another's jobs. */
export async function freshDatabase(db: string, label: string): Promise<{ url: string; drop: () => Promise<void> }> {
  if (!db.startsWith("mysql")) return { url: db, drop: async () => {} };
  const url = new URL(db);
  const name = `${url.pathname.slice(1) || "dt"}_fleet_${label}_${Date.now().toString(36)}`;
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    drop: async () => void (await query(db, `DROP DATABASE IF EXISTS ${mysql.escapeId(name)}`)),
  };
}

export interface FleetMaster {
  base: string;
  pid: number;
  post: (path: string, body: unknown) => Promise<any>;
  /** SIGTERM (a profiled master writes its profile as it exits), then its data dir and database go. */
  stop: () => Promise<void>;
}

/**
 * A real `dt master` from `tree`'s source on a free port, a data dir and
 * (on MySQL) a database of its own; answers once /healthz does.
 * FLEET_MASTER_BUN_FLAGS="--cpu-prof-md --cpu-prof-dir=/tmp/prof" profiles it.
 */
export async function startFleetMaster(o: { tree: string; db: string; queue: string; label: string }): Promise<FleetMaster> {
  const dir = mkdtempSync(join(tmpdir(), "dt-fleet-"));
  // A port the kernel just gave out and took back: a random one collided with the ports of big simulated fleets' connections.
  const probe = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const port = probe.port;
  probe.stop(true);
  const base = `http://127.0.0.1:${port}`;
  const queueArgs = o.queue === "memory" ? [] : ["--queue", o.queue];
  const bunFlags = (process.env.FLEET_MASTER_BUN_FLAGS ?? "").split(" ").filter(Boolean);
  const db = await freshDatabase(o.db, o.label);
  const master = Bun.spawn(["bun", ...bunFlags, "src/main.ts", "master", "--port", String(port), "--host", "127.0.0.1", "--db", db.url, "--data-dir", dir, ...queueArgs], { cwd: o.tree, stdout: "ignore", stderr: "ignore" });
  const stop = async () => {
    master.kill("SIGTERM");
    await master.exited;
    rmSync(dir, { recursive: true, force: true });
    await db.drop();
  };
  for (let i = 0; ; i++) {
    try {
      if ((await fetch(`${base}/healthz`)).ok) break;
    } catch {}
    if (i > 300) {
      await stop();
      throw new Error("master did not start");
    }
    await Bun.sleep(100);
  }
  const post = async (path: string, body: unknown) => {
    const r = await fetch(`${base}${path}`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
    if (!r.ok) throw new Error(`${path}: ${r.status} ${await r.text()}`);
    return r.json();
  };
  return { base, pid: master.pid, post, stop };
}

/** Until the master knows every slave of the fleet (its first lease or heartbeat arrived), then one heartbeat round more. */
export async function allKnown(base: string, slaves: number): Promise<void> {
  for (;;) {
    const { slaves: known } = (await (await fetch(`${base}/api/v1/slaves`)).json()) as { slaves: unknown[] };
    if (known.length >= slaves) break;
    await Bun.sleep(500);
  }
  await Bun.sleep(6_000);
}
