import { closeSync, mkdirSync, openSync } from "node:fs";
import { join } from "node:path";
import type { Subprocess } from "bun";
import type { Logger } from "../common/log.ts";
import { dtCommand } from "../local/slave-processes.ts";
import type { SlaveView } from "../master/protocol.ts";
import type { SlaveProvider, StopResult } from "./provider.ts";

/** After SIGTERM, how long stop() waits for a drained slave to exit before it lets the tick go on (the process is still waited for at close). A drained slave with nothing running exits within its lease long-poll. */
const STOP_WAIT_MS = 10_000;

export interface LocalProviderOptions {
  masterUrl: string;
  /** Slaves are named `<prefix>-<n>`, n counting from 1 in this run. */
  prefix: string;
  slots: number;
  /** The dimensions given to each slave (`--dimensions`); the slave adds os and cpu itself. */
  dimensions: Record<string, string>;
  /** One blob cache for all of them, as `dt local` shares one. */
  cacheDir: string;
  /** `<logDir>/<name>.log` gets each slave's output. */
  logDir: string;
  /** The slaves' environment: the account they answer the master's challenges with comes from here. */
  env: Record<string, string | undefined>;
  log: Logger;
  /** How to run dt; dtCommand() by default (tests run src/main.ts). */
  command?: string[];
  /** Extra `dt slave` flags, e.g. ["--drain-timeout", "30m"]. */
  slaveArgs?: string[];
}

/**
 * `dt slave` processes on this host, children of the autoscaler. stop()
 * sends SIGTERM, which drains (running tasks finish), then waits for the
 * exit; close() does the same to all of them.
 *
 * @example
 *   const local = new LocalProvider({ masterUrl, prefix: "ci-auto", slots: 2, dimensions: {}, cacheDir, logDir, env: process.env, log });
 */
export class LocalProvider implements SlaveProvider {
  readonly kind = "local";
  readonly removesByName = true;
  private readonly children = new Map<string, Subprocess>();
  private next = 1;

  constructor(private readonly o: LocalProviderOptions) {
    mkdirSync(o.logDir, { recursive: true });
    mkdirSync(o.cacheDir, { recursive: true });
  }

  manages(slave: SlaveView): boolean {
    return slave.name.startsWith(`${this.o.prefix}-`);
  }

  members(): ReadonlySet<string> {
    return new Set(this.children.keys());
  }

  /** The slave processes running now, by name. */
  pids(): Map<string, number> {
    return new Map([...this.children].map(([name, child]) => [name, child.pid]));
  }

  async start(count: number): Promise<string[]> {
    const names: string[] = [];
    for (let i = 0; i < count; i++) names.push(this.spawn());
    return names;
  }

  async stop(names: readonly string[]): Promise<StopResult> {
    const stopping = names.flatMap((name) => {
      const child = this.children.get(name);
      if (!child) return [];
      child.kill("SIGTERM");
      return [child.exited];
    });
    let timer: ReturnType<typeof setTimeout> | undefined;
    const patience = new Promise<void>((resolve) => (timer = setTimeout(resolve, STOP_WAIT_MS)));
    await Promise.race([Promise.all(stopping), patience]);
    clearTimeout(timer);
    return { stopped: [...names] };
  }

  async close(): Promise<void> {
    const all = [...this.children.values()];
    for (const child of all) child.kill("SIGTERM");
    await Promise.all(all.map((c) => c.exited));
  }

  private spawn(): string {
    const o = this.o;
    let name: string;
    do name = `${o.prefix}-${this.next++}`;
    while (this.children.has(name));
    const logPath = join(o.logDir, `${name}.log`);
    const logFile = openSync(logPath, "a");
    const dims = Object.entries(o.dimensions).map(([k, v]) => `${k}=${v}`).join(",");
    const args = ["slave", "--master", o.masterUrl, "--name", name, "--slots", String(o.slots), "--cache-dir", o.cacheDir, ...(dims ? ["--dimensions", dims] : []), ...(o.slaveArgs ?? [])];
    const child = Bun.spawn([...(o.command ?? dtCommand()), ...args], { stdin: "ignore", stdout: logFile, stderr: logFile, env: o.env });
    closeSync(logFile);
    this.children.set(name, child);
    o.log.info(`started slave ${name} (pid ${child.pid}), its log in ${logPath}`, { slave: name, pid: child.pid, log: logPath });
    void child.exited.then((code) => {
      this.children.delete(name);
      const how = child.signalCode ? `killed by ${child.signalCode}` : `exit ${code}`;
      if (code === 0) o.log.info(`slave ${name} exited`, { slave: name, exit: code });
      else o.log.warn(`slave ${name} ended (${how}); see ${logPath}`, { slave: name, exit: code, signal: child.signalCode });
    });
    return name;
  }
}
