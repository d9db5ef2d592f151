/**
 * A private MariaDB server for one e2e test: its own datadir, socket and
 * TCP port on 127.0.0.1 (never the system server on 3306), root without a
 * password. It can be stopped (SIGTERM, a clean shutdown) and started again
 * on the same datadir and port, to play a database that goes away mid-job.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { waitUntil } from "../helpers/wait.ts";

/** mariadb-install-db takes about a second; a server starts in one or two on a loaded machine. */
const INSTALL_DEADLINE_MS = 30_000;
const START_DEADLINE_MS = 20_000;
/** A clean shutdown flushes InnoDB's buffer pool: a few seconds at most for a tiny datadir. */
const STOP_DEADLINE_MS = 20_000;

/** A TCP port that nothing listens on right now (the kernel's pick, released at once). */
function freePort(): number {
  const probe = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const port = probe.port;
  probe.stop(true);
  return port;
}

export class PrivateMariadb {
  readonly dir: string;
  readonly port: number;
  private proc: Subprocess | undefined;

  private constructor(dir: string, port: number) {
    this.dir = dir;
    this.port = port;
  }

  /** Initializes a fresh datadir and starts the server on it; resolves once it answers `select 1`. */
  static async start(prefix = "dt-e2e-mariadb-"): Promise<PrivateMariadb> {
    const db = new PrivateMariadb(mkdtempSync(join(tmpdir(), prefix)), freePort());
    try {
      const install = Bun.spawn(
        ["mariadb-install-db", "--no-defaults", `--datadir=${join(db.dir, "data")}`, "--auth-root-authentication-method=normal", "--skip-test-db", "--user=root"],
        { stdin: "ignore", stdout: Bun.file(join(db.dir, "install.log")), stderr: "pipe", timeout: INSTALL_DEADLINE_MS },
      );
      const installErr = await new Response(install.stderr).text();
      if ((await install.exited) !== 0) throw new Error(`mariadb-install-db exited ${install.exitCode ?? install.signalCode}: ${installErr}\n${db.readLog("install.log")}`);
      await db.restart();
      return db;
    } catch (err) {
      await db.destroy();
      throw err;
    }
  }

  /** mysql://root@127.0.0.1:PORT/database */
  url(database: string): string {
    return `mysql://root@127.0.0.1:${this.port}/${database}`;
  }

  get running(): boolean {
    return this.proc !== undefined && this.proc.exitCode === null && this.proc.signalCode === null;
  }

  /** Starts mariadbd on the datadir and port (again); resolves once a client gets an answer. */
  async restart(): Promise<void> {
    if (this.running) throw new Error("the private MariaDB already runs");
    this.proc = Bun.spawn(
      [
        "mariadbd",
        "--no-defaults",
        `--datadir=${join(this.dir, "data")}`,
        `--socket=${join(this.dir, "sock")}`,
        `--pid-file=${join(this.dir, "mariadbd.pid")}`,
        `--log-error=${join(this.dir, "error.log")}`,
        `--port=${this.port}`,
        "--bind-address=127.0.0.1",
        "--skip-name-resolve",
        "--user=root",
      ],
      // Its own process group: a Ctrl-C on the test runner is not the server's to handle, and destroy() kills the group.
      { stdin: "ignore", stdout: "ignore", stderr: "ignore", detached: true },
    );
    const proc = this.proc;
    await waitUntil(
      () => {
        if (proc.exitCode !== null || proc.signalCode !== null) throw new Error(`mariadbd exited (${proc.exitCode ?? proc.signalCode}) while starting:\n${this.readLog("error.log")}`);
        return Bun.spawnSync(["mariadb", "--no-defaults", "-h127.0.0.1", `-P${this.port}`, "-uroot", "--connect-timeout=2", "-e", "select 1"], { stdout: "ignore", stderr: "ignore" }).exitCode === 0;
      },
      `the private MariaDB on port ${this.port} to answer`,
      START_DEADLINE_MS,
    );
  }

  /** SIGTERM (a clean shutdown) and waits for the server to exit. */
  async stop(): Promise<void> {
    const proc = this.proc;
    if (!proc || !this.running) return;
    proc.kill("SIGTERM");
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`mariadbd still ran ${STOP_DEADLINE_MS} ms after SIGTERM:\n${this.readLog("error.log")}`)), STOP_DEADLINE_MS);
    });
    try {
      await Promise.race([proc.exited, late]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** SIGKILL, a crash: no clean shutdown, so restart() goes through InnoDB's crash recovery. Resolves once the server is gone. */
  async kill(): Promise<void> {
    const proc = this.proc;
    if (!proc || !this.running) return;
    proc.kill("SIGKILL");
    await proc.exited;
  }

  /** SIGKILLs the server's process group if it still runs and removes the datadir; never throws. */
  async destroy(): Promise<void> {
    const proc = this.proc;
    if (proc && this.running) {
      try {
        process.kill(-proc.pid, "SIGKILL");
      } catch {
        proc.kill("SIGKILL");
      }
      await proc.exited.catch(() => {});
    }
    rmSync(this.dir, { recursive: true, force: true });
  }

  /** The server's error log (or the install log), for failure messages. */
  readLog(name = "error.log"): string {
    try {
      return readFileSync(join(this.dir, name), "utf8");
    } catch {
      return `(no ${name})`;
    }
  }
}
