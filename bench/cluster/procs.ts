/**
 * The cluster's processes: a real `dt master` on a free loopback port and
 * `dt slave` processes pointed at it. Each runs in its own process group
 * and is tracked until it exits, so `killCluster` can end whatever is left
 * when the bench fails or is interrupted. Their stderr is drained all the
 * time (a full pipe would stall a chatty slave) and its tail is kept for
 * error messages.
 */
import type { Subprocess } from "bun";
import { readFileSync } from "node:fs";
import { join } from "node:path";

const live = new Set<Subprocess>();

/** How long a master or slave may take to start: they open an empty data dir, so seconds mean trouble. */
const START_TIMEOUT_MS = 30_000;
/** SIGTERM to SIGKILL: an idle slave drains at once and the master only closes its store. */
const STOP_GRACE_MS = 10_000;
/** Bytes of stderr kept per process for error messages. */
const LOG_TAIL_BYTES = 16_384;

/** One long-running dt process. */
export class Service {
  private tail = "";
  private readonly lineWaiters: { re: RegExp; resolve: (m: RegExpExecArray) => void }[] = [];
  readonly exited: Promise<number>;

  constructor(
    readonly name: string,
    readonly child: Subprocess<"ignore", "ignore", "pipe">,
  ) {
    live.add(child);
    this.exited = child.exited.finally(() => live.delete(child));
    void this.drain();
  }

  get pid(): number {
    return this.child.pid;
  }

  get log(): string {
    return this.tail;
  }

  private async drain(): Promise<void> {
    const decoder = new TextDecoder();
    for await (const chunk of this.child.stderr) {
      this.tail = (this.tail + decoder.decode(chunk, { stream: true })).slice(-LOG_TAIL_BYTES);
      for (const waiter of [...this.lineWaiters]) {
        const m = waiter.re.exec(this.tail);
        if (m) {
          this.lineWaiters.splice(this.lineWaiters.indexOf(waiter), 1);
          waiter.resolve(m);
        }
      }
    }
  }

  /** Resolves with the first match of `re` in the stderr; rejects if the process exits or the deadline passes first. */
  waitForLine(re: RegExp, timeoutMs: number): Promise<RegExpExecArray> {
    const already = re.exec(this.tail);
    if (already) return Promise.resolve(already);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${this.name} printed no ${re} within ${timeoutMs / 1000} s:\n${this.tail}`)), timeoutMs);
      this.lineWaiters.push({ re, resolve: (m) => (clearTimeout(timer), resolve(m)) });
      void this.exited.then((code) => {
        clearTimeout(timer);
        reject(new Error(`${this.name} exited (code ${code}) before printing ${re}:\n${this.tail}`));
      });
    });
  }

  /** SIGTERM to the group, SIGKILL after the grace period; resolves once it has exited. */
  async stop(): Promise<void> {
    killGroup(this.child, "SIGTERM");
    const timer = setTimeout(() => killGroup(this.child, "SIGKILL"), STOP_GRACE_MS);
    await this.exited;
    clearTimeout(timer);
  }

  /** Resident memory now, bytes (VmRSS of /proc/<pid>/status). */
  rssBytes(): number {
    const kb = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${this.pid}/status`, "utf8"))?.[1];
    if (kb === undefined) throw new Error(`${this.name}: no VmRSS in /proc/${this.pid}/status`);
    return Number(kb) * 1024;
  }

  /** CPU time used so far by the process itself (user + system), ms; its reaped children not included. */
  cpuMs(): number {
    return processCpuMs(this.pid);
  }
}

/** CPU time used so far by any process (user + system, all its threads), ms. */
export function processCpuMs(pid: number): number {
  // Fields after the parenthesized command: state is field 3, utime 14, stime 15 (proc(5)).
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / clockTicksPerSecond();
}

/** CPU time of the whole machine so far, ms summed over cores: busy (not idle or iowait) and total. */
export function machineCpuMs(): { busy: number; total: number } {
  const fields = readFileSync("/proc/stat", "utf8").split("\n", 1)[0]!.trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal (guest time is already inside user).
  const total = fields.slice(0, 8).reduce((a, b) => a + b, 0);
  const idle = fields[3]! + fields[4]!;
  const ms = (t: number) => (t * 1000) / clockTicksPerSecond();
  return { busy: ms(total - idle), total: ms(total) };
}

let ticks: number | undefined;
function clockTicksPerSecond(): number {
  ticks ??= Number(Bun.spawnSync(["getconf", "CLK_TCK"]).stdout.toString().trim()) || 100;
  return ticks;
}

function killGroup(child: Subprocess, signal: NodeJS.Signals): void {
  try {
    process.kill(-child.pid, signal);
  } catch {
    // Already gone.
  }
}

function spawnService(name: string, argv: string[], env?: Record<string, string>): Service {
  const child = Bun.spawn(argv, { stdin: "ignore", stdout: "ignore", stderr: "pipe", detached: true, env: env && { ...process.env, ...env } });
  return new Service(name, child);
}

/**
 * A server the bench owns (beanstalkd, s3rver): started like the cluster's
 * processes, so a failure or Ctrl-C kills it too.
 */
export function startServerProcess(name: string, argv: string[]): Service {
  return spawnService(name, argv);
}

/** How to run dt: a binary's path, or an argv prefix such as `["bun", "src/main.ts"]` (the source, unbuilt). */
export type DtCommand = string | readonly string[];

export function dtArgv(dt: DtCommand, ...args: string[]): string[] {
  return [...(typeof dt === "string" ? [dt] : dt), ...args];
}

export interface RunningMaster {
  service: Service;
  url: string;
}

/** What a backend adds to `dt master`'s command line and environment (see backends.ts). */
export interface MasterExtras {
  args: readonly string[];
  env: Record<string, string>;
}

/**
 * `dt master` on 127.0.0.1 with `dataDir` and a backend's flags; resolves
 * once it prints its address. Port 0 (a free one) unless `port` is given: a
 * restarted master comes back where its slaves look for it.
 */
export async function startMaster(dt: DtCommand, dataDir: string, extras: MasterExtras, port = 0): Promise<RunningMaster> {
  const service = spawnService("dt master", dtArgv(dt, "master", "--port", String(port), "--host", "127.0.0.1", "--data-dir", dataDir, ...extras.args), extras.env);
  try {
    const m = await service.waitForLine(/master listening on (http:\/\/127\.0\.0\.1:\d+)/, START_TIMEOUT_MS);
    return { service, url: m[1]! };
  } catch (err) {
    killGroup(service.child, "SIGKILL");
    await service.exited;
    throw err;
  }
}

/**
 * `count` slaves named `slave-1`… with `slots` each, every one with its own
 * cache and run directories under `dir` (separate hosts do not share a cache).
 * Returns once they are started; the caller waits for them to register.
 */
export function startSlaves(dt: DtCommand, masterUrl: string, dir: string, count: number, slots: number): Service[] {
  return Array.from({ length: count }, (_, i) => startSlave(dt, masterUrl, dir, `slave-${i + 1}`, slots));
}

/**
 * One `dt slave` named `name`, its cache and run directories in `dir/name`
 * unless `args` says otherwise (a later flag wins): started again with the
 * same name, it is the same host coming back.
 */
export function startSlave(dt: DtCommand, masterUrl: string, dir: string, name: string, slots: number, args: readonly string[] = []): Service {
  const home = join(dir, name);
  return spawnService(`dt slave ${name}`, dtArgv(dt,
    "slave", "--master", masterUrl, "--slots", String(slots), "--name", name,
    "--cache-dir", join(home, "cache"), "--root-dir", join(home, "runs"), ...args,
  ));
}

/** Kills every cluster process still running (bench failure or Ctrl-C) and waits for them. */
export async function killCluster(): Promise<void> {
  const children = [...live];
  for (const child of children) killGroup(child, "SIGKILL");
  await Promise.all(children.map((c) => c.exited));
  live.clear();
}
