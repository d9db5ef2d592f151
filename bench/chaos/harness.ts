/**
 * One scenario's dt installation on real processes: a `dt master` that can
 * be SIGKILLed and restarted on its port, named `dt slave`s that can be
 * SIGKILLed and started again as the same host, manifests whose command is
 * a shell script (uploaded in process to the master's CAS), and what the
 * bench reads afterwards: the completion marks the scripts append to a file
 * of the run, and the task processes still alive (found by a token in their
 * environment, so another run's or another user's processes never count).
 */
import { mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { type Isolated, ISOLATED_VERSION, encodeIsolated } from "../../src/isolate/manifest.ts";
import { digestOfBytes } from "../../src/isolate/digest.ts";
import type { TaskRequest, TaskView } from "../../src/master/protocol.ts";
import { processAlive } from "../../test/helpers/wait.ts";
import { timedRun } from "../isolate/procs.ts";
import { MasterApi } from "../cluster/api.ts";
import type { MasterStores } from "../cluster/backends.ts";
import { type DtCommand, type Service, dtArgv, startMaster, startSlave } from "../cluster/procs.ts";
import type { ChaosBackend } from "./backends.ts";

/** The master's --lease-ttl and --heartbeat-interval; the heartbeat must stay under half the TTL, as dt master requires. */
export interface LeaseTiming {
  ttlSec: number;
  heartbeatSec: number;
}
/** Short, so a lost slave is noticed in seconds and its task requeued: what most scenarios use. */
export const SHORT_LEASE: LeaseTiming = { ttlSec: 5, heartbeatSec: 1 };
/** A slave registers on its first lease request, a second or two after its start on a loaded machine. */
const REGISTER_TIMEOUT_MS = 30_000;
/** Between two polls of the master: the bench notices an event this late at most, and does not keep the master busy. */
export const POLL_MS = 250;
/** One API call while polling: a master stuck on a database that went away must not stall the bench past its deadline. */
const API_CALL_TIMEOUT_MS = 10_000;
/** A client command: `dt submit --no-wait` of a 10,000-task file reads, validates and POSTs it; minutes mean it hung. */
const CLIENT_TIMEOUT_MS = 180_000;

/** The last line of every task script: one line per command that ran to its end, `<job> <task> <attempt>`. */
export const MARK = 'echo "$DT_JOB_ID $DT_TASK_ID $DT_ATTEMPT" >> "$CHAOS_MARKS"';

export interface SlaveSpec {
  name: string;
  slots: number;
  /** Extra `dt slave` flags; a flag given again here wins over the harness's (e.g. --cache-dir). */
  args?: readonly string[];
}

export class ChaosCluster {
  readonly api: MasterApi;
  readonly slaves = new Map<string, Service>();
  /** Where task scripts append their MARK. */
  readonly marksPath: string;
  private readonly cleanups: (() => Promise<void> | void)[] = [];
  private readonly specs = new Map<string, SlaveSpec>();
  private submissions = 0;

  private constructor(
    private readonly dt: DtCommand,
    readonly dir: string,
    /** In every task's environment (CHAOS_RUN): how the bench finds the run's processes. */
    readonly token: string,
    private readonly stores: MasterStores,
    private readonly lease: LeaseTiming,
    private masterService: Service,
    readonly url: string,
  ) {
    this.api = new MasterApi(url);
    this.marksPath = join(dir, "marks");
    writeFileSync(this.marksPath, "");
  }

  /** A master on the backend's fresh stores and `slaves`, each registered and asking for work. */
  static async start(dt: DtCommand, dir: string, backend: ChaosBackend, slaves: readonly SlaveSpec[], lease = SHORT_LEASE): Promise<ChaosCluster> {
    mkdirSync(dir, { recursive: true });
    const stores = await backend.stores.forMaster();
    const master = await startMaster(dt, join(dir, "master"), masterExtras(stores, lease)).catch(async (err) => {
      await stores.release();
      throw err;
    });
    const cluster = new ChaosCluster(dt, dir, crypto.randomUUID().slice(0, 13), stores, lease, master.service, master.url);
    try {
      await Promise.all(slaves.map((s) => cluster.startSlave(s)));
    } catch (err) {
      await cluster.stop();
      throw err;
    }
    return cluster;
  }

  get master(): Service {
    return this.masterService;
  }

  get port(): number {
    return Number(new URL(this.url).port);
  }

  /** Starts the slave (again, under the same name, cache and run directory); resolves once the master lists it idle or busy. */
  async startSlave(spec: SlaveSpec): Promise<Service> {
    this.specs.set(spec.name, spec);
    const slave = startSlave(this.dt, this.url, join(this.dir, "slaves"), spec.name, spec.slots, spec.args);
    this.slaves.set(spec.name, slave);
    const deadline = performance.now() + REGISTER_TIMEOUT_MS;
    let exited: number | undefined;
    void slave.exited.then((code) => (exited = code));
    for (;;) {
      if (exited !== undefined) throw new Error(`${slave.name} exited (code ${exited}) before registering:\n${slave.log}`);
      const views = (await this.ask((api) => api.slaves())) ?? [];
      if (views.some((v) => v.name === spec.name && (v.state === "idle" || v.state === "busy"))) return slave;
      if (performance.now() > deadline) throw new Error(`${slave.name} did not register within ${REGISTER_TIMEOUT_MS / 1000} s:\n${slave.log}`);
      await Bun.sleep(POLL_MS);
    }
  }

  /** SIGKILLs the slave's process group (its task commands run in groups of their own) and waits for it to exit. */
  async killSlave(name: string): Promise<void> {
    const slave = this.slaves.get(name);
    if (!slave) throw new Error(`no slave ${name}; there are ${[...this.slaves.keys()].join(", ")}`);
    await sigkill(slave);
  }

  /** Starts the slave `name` again as it was first started. */
  restartSlave(name: string): Promise<Service> {
    return this.startSlave(this.specs.get(name)!);
  }

  async killMaster(): Promise<void> {
    await sigkill(this.masterService);
  }

  /** Starts the master again on its port, data dir and stores; resolves once it listens. */
  async restartMaster(): Promise<void> {
    const master = await startMaster(this.dt, join(this.dir, "master"), masterExtras(this.stores, this.lease), this.port);
    this.masterService = master.service;
  }

  /** Uploads `files` and a manifest running `sh -c script` to the master's CAS; returns the manifest's digest. */
  async manifest(script: string, files: Record<string, Uint8Array> = {}): Promise<string> {
    const entries: Isolated["files"] = {};
    for (const [path, bytes] of Object.entries(files)) {
      const digest = digestOfBytes(bytes);
      await this.api.putBlob(digest.hash, bytes);
      entries[path] = { h: digest.hash, s: bytes.byteLength, m: 0o644 };
    }
    const { bytes, digest } = encodeIsolated({ algo: "sha-256", version: ISOLATED_VERSION, files: entries, command: ["sh", "-c", script] });
    await this.api.putBlob(digest.hash, bytes);
    return digest.hash;
  }

  /** A task of the run: its environment carries the token and the marks file. */
  task(isolateHash: string, description: string, extra: Partial<TaskRequest> = {}): TaskRequest {
    return { isolate_hash: isolateHash, description, ...extra, env: { ...extra.env, CHAOS_RUN: this.token, CHAOS_MARKS: this.marksPath } };
  }

  /** POST /api/v1/jobs; returns the job id. */
  async submit(name: string, tasks: TaskRequest[]): Promise<string> {
    return (await this.api.submit({ name, tasks })).job_id;
  }

  /** `dt submit --no-wait` of a tasks file, as a user would; returns the job id it printed. */
  async submitWithClient(name: string, tasks: TaskRequest[]): Promise<string> {
    const file = join(this.dir, `tasks-${++this.submissions}.json`);
    writeFileSync(file, JSON.stringify({ tasks }));
    const stdout = await this.client(["submit", "--no-wait", "--name", name, file]);
    return stdout.trim().split("\n").at(-1)!.trim();
  }

  /** `dt <command> --master URL args…` as a client process with a HOME of the run's; returns its stdout, throws on a non-zero exit. */
  async client([command, ...args]: string[]): Promise<string> {
    const home = join(this.dir, "home");
    const env = { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: home, XDG_DATA_HOME: join(home, "data"), XDG_CACHE_HOME: join(home, "cache"), USER: "chaos" };
    const { stdout } = await timedRun(dtArgv(this.dt, command!, "--master", this.url, "--log-level", "warn", ...args), { env, timeoutMs: CLIENT_TIMEOUT_MS });
    return stdout;
  }

  /** The call's answer; undefined when it failed or took past `timeoutMs` (a master down or stuck is normal here). */
  async ask<T>(call: (api: MasterApi) => Promise<T>, timeoutMs = API_CALL_TIMEOUT_MS): Promise<T | undefined> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<undefined>((resolve) => (timer = setTimeout(resolve, timeoutMs, undefined)));
    try {
      return await Promise.race([call(this.api).catch(() => undefined), late]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Polls the job's tasks until `ready` holds (a master that is down counts as not yet); throws naming `what` past the deadline. */
  async waitTasks(jobId: string, what: string, ready: (tasks: TaskView[]) => boolean, deadlineMs: number): Promise<TaskView[]> {
    const deadline = performance.now() + deadlineMs;
    let last: TaskView[] = [];
    for (;;) {
      last = (await this.ask((api) => api.tasks(jobId))) ?? last;
      if (last.length > 0 && ready(last)) return last;
      if (performance.now() > deadline) throw new Error(`timed out after ${deadlineMs / 1000} s waiting for ${what} (job ${jobId})`);
      await Bun.sleep(POLL_MS);
    }
  }

  /** Polls until every job reads finished (true), or `deadline` (performance.now() time) passes (false). */
  async waitFinished(jobIds: readonly string[], deadline: number): Promise<boolean> {
    const pending = new Set(jobIds);
    while (pending.size > 0) {
      for (const id of [...pending]) if ((await this.ask((api) => api.job(id)))?.status === "finished") pending.delete(id);
      if (pending.size === 0) return true;
      if (performance.now() > deadline) return false;
      await Bun.sleep(POLL_MS);
    }
    return true;
  }

  /** The attempt numbers the task scripts appended, by `<job> <task>`: one entry per command that ran to its end. */
  marks(): Map<string, number[]> {
    const byTask = new Map<string, number[]>();
    for (const line of readFileSync(this.marksPath, "utf8").split("\n")) {
      const [job, task, attempt] = line.trim().split(" ");
      if (job && task) byTask.set(`${job} ${task}`, [...(byTask.get(`${job} ${task}`) ?? []), Number(attempt)]);
    }
    return byTask;
  }

  /** Pids of the live processes of this run's tasks: commands, their children, anything that inherited CHAOS_RUN. */
  taskProcesses(): number[] {
    const needle = `CHAOS_RUN=${this.token}\0`;
    const pids: number[] = [];
    for (const entry of readdirSync("/proc")) {
      if (!/^\d+$/.test(entry)) continue;
      try {
        if (readFileSync(`/proc/${entry}/environ`, "latin1").includes(needle) && processAlive(Number(entry))) pids.push(Number(entry));
      } catch {
        // Gone meanwhile, or not ours to read.
      }
    }
    return pids;
  }

  /** Writes the tail of the master's and each slave's log (the last incarnation of each) into `dir`; returns `dir`. */
  saveLogs(dir: string): string {
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, "master.log"), this.masterService.log);
    for (const [name, slave] of this.slaves) writeFileSync(join(dir, `${name}.log`), slave.log);
    return dir;
  }

  /** Runs `fn` when the cluster stops (a CPU hog to end, a tmpfs to unmount), last registered first. */
  onStop(fn: () => Promise<void> | void): void {
    this.cleanups.push(fn);
  }

  /** SIGKILLs slaves and master, ends the run's task processes, runs onStop's hooks and releases the stores; never throws. */
  async stop(): Promise<void> {
    await Promise.all([...this.slaves.values(), this.masterService].map(sigkill));
    for (const pid of this.taskProcesses()) {
      try {
        process.kill(pid, "SIGKILL");
      } catch {
        // Gone meanwhile.
      }
    }
    for (const fn of this.cleanups.splice(0).reverse()) await Promise.resolve().then(fn).catch((err) => console.error(`bench: clean-up: ${(err as Error).message}`));
    await this.stores.release().catch(() => {});
  }
}

function masterExtras(stores: MasterStores, lease: LeaseTiming) {
  return { args: [...stores.extras.args, "--lease-ttl", `${lease.ttlSec}s`, "--heartbeat-interval", `${lease.heartbeatSec}s`], env: stores.extras.env };
}

async function sigkill(service: Service): Promise<void> {
  try {
    process.kill(-service.pid, "SIGKILL");
  } catch {
    // Already gone.
  }
  await service.exited;
}
