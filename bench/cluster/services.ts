/**
 * The servers behind the external backends. MariaDB is the machine's, at
 * `--mysql`. beanstalkd and s3rver are the bench's own, started on free
 * loopback ports with their data under the scratch dir and stopped at the
 * end, unless `--beanstalkd HOST:PORT` or `--s3-endpoint URL` names one:
 * the shared servers of scripts/services/ are restarted by other test runs
 * (a bench saw both vanish mid-run), and the bench's load should not slow
 * their tests either. The private beanstalkd runs as the CI script starts
 * its own: with a binlog and 8 MiB jobs.
 */
import { existsSync, mkdirSync, readFileSync, readdirSync, readlinkSync } from "node:fs";
import { join, resolve } from "node:path";
import mysql from "mysql2/promise";
import { type Service, startServerProcess } from "./procs.ts";

const repo = resolve(import.meta.dir, "..", "..");

const BEANSTALKD_BIN = "/usr/bin/beanstalkd";
/** As scripts/services/beanstalkd.sh: dt puts task descriptions, not archives. */
const BEANSTALKD_MAX_JOB_BYTES = 8 * 1024 * 1024;
/** beanstalkd starts in milliseconds and s3rver in about a second; a loaded 2-core machine may take a few. */
const START_TIMEOUT_MS = 20_000;
/** A local server answers in milliseconds. */
const PROBE_TIMEOUT_MS = 2_000;

export interface ServerFlags {
  /** mysql://user[:password]@host:port, without a database. */
  mysql: string;
  beanstalkd?: string;
  s3Endpoint?: string;
}

export interface Servers {
  mysql: string;
  /** host:port */
  beanstalkd: string;
  s3Endpoint: string;
  /** Stops the servers the bench started; safe to call twice. */
  stop(): Promise<void>;
}

/** Checks MariaDB, then uses or starts beanstalkd and s3rver, each checked to answer; throws naming the one that does not. */
export async function openServers(flags: ServerFlags, dir: string): Promise<Servers> {
  await checkMysql(flags.mysql);
  const owned: Service[] = [];
  const stop = async () => {
    await Promise.all(owned.splice(0).map((s) => s.stop()));
  };
  try {
    const beanstalkd = flags.beanstalkd ?? (await startBeanstalkd(join(dir, "beanstalkd-binlog"), owned));
    if (!(await answersStats(beanstalkd))) throw new Error(`beanstalkd at ${beanstalkd} does not answer \`stats\``);
    const s3Endpoint = flags.s3Endpoint ?? (await startS3rver(join(dir, "s3rver"), owned));
    if (!(await answersHttp(s3Endpoint))) throw new Error(`S3 at ${s3Endpoint} does not answer`);
    return { mysql: flags.mysql.replace(/\/+$/, ""), beanstalkd, s3Endpoint, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

async function checkMysql(server: string): Promise<void> {
  try {
    await (await mysql.createConnection(server)).end();
  } catch (err) {
    throw new Error(`MariaDB at ${server} refused a connection (${(err as Error).message}); name another with --mysql`);
  }
}

/** Drops a bench database; a failure is printed, not thrown, so clean-up goes on. */
export async function dropDatabase(server: string, database: string): Promise<void> {
  let conn: mysql.Connection | undefined;
  try {
    conn = await mysql.createConnection(server);
    await conn.query(`DROP DATABASE IF EXISTS ${mysql.escapeId(database)}`);
  } catch (err) {
    console.error(`bench: could not drop database ${database} on ${server}: ${(err as Error).message}`);
  } finally {
    await conn?.end().catch(() => {});
  }
}

async function startBeanstalkd(binlog: string, owned: Service[]): Promise<string> {
  if (!existsSync(BEANSTALKD_BIN)) throw new Error(`${BEANSTALKD_BIN} is not installed: \`bash scripts/services/beanstalkd.sh\` installs it, or name a server with --beanstalkd`);
  mkdirSync(binlog, { recursive: true });
  const address = `127.0.0.1:${freePort()}`;
  const [host, port] = address.split(":");
  owned.push(startServerProcess("beanstalkd", [BEANSTALKD_BIN, "-l", host!, "-p", port!, "-b", binlog, "-z", String(BEANSTALKD_MAX_JOB_BYTES)]));
  await waitUntil(() => answersStats(address), `beanstalkd on ${address}`, owned.at(-1)!);
  return address;
}

async function startS3rver(data: string, owned: Service[]): Promise<string> {
  mkdirSync(data, { recursive: true });
  const endpoint = `http://127.0.0.1:${freePort()}`;
  // As scripts/services/s3rver.sh runs it: the devDependency's own entry point, through bun.
  const bin = join(repo, "node_modules", "s3rver", "bin", "s3rver.js");
  owned.push(startServerProcess("s3rver", [process.execPath, bin, "--directory", data, "--address", "127.0.0.1", "--port", new URL(endpoint).port, "--silent"]));
  await waitUntil(() => answersHttp(endpoint), `s3rver on ${endpoint}`, owned.at(-1)!);
  return endpoint;
}

async function waitUntil(ready: () => Promise<boolean>, what: string, server: Service): Promise<void> {
  const deadline = performance.now() + START_TIMEOUT_MS;
  let exited: number | undefined;
  void server.exited.then((code) => (exited = code));
  while (!(await ready())) {
    if (exited !== undefined) throw new Error(`${what} exited (code ${exited}) while starting:\n${server.log}`);
    if (performance.now() > deadline) throw new Error(`${what} did not answer within ${START_TIMEOUT_MS / 1000} s:\n${server.log}`);
    await Bun.sleep(50);
  }
}

/** A TCP port nothing listens on right now (the kernel's pick, released at once). */
function freePort(): number {
  const probe = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const port = probe.port;
  probe.stop(true);
  return port;
}

async function answersHttp(url: string): Promise<boolean> {
  try {
    await fetch(url, { signal: AbortSignal.timeout(PROBE_TIMEOUT_MS) });
    return true;
  } catch {
    return false;
  }
}

/** True when beanstalkd at host:port answers `stats` with OK. */
export async function answersStats(address: string): Promise<boolean> {
  const [host, port] = address.split(/:(?=\d+$)/);
  return new Promise<boolean>((done) => {
    const timer = setTimeout(() => done(false), PROBE_TIMEOUT_MS);
    const finish = (ok: boolean) => (clearTimeout(timer), done(ok));
    Bun.connect({
      hostname: host!,
      port: Number(port),
      socket: {
        open: (socket) => void socket.write("stats\r\n"),
        // finish before end(): end() may run `close` at once, which would answer false first.
        data: (socket, bytes) => {
          finish(bytes.toString().startsWith("OK"));
          socket.end();
        },
        error: () => finish(false),
        connectError: () => finish(false),
        close: () => finish(false),
      },
    }).catch(() => finish(false));
  });
}

/**
 * The pid of the process listening on a loopback TCP port, from
 * /proc/net/tcp and the fd links of /proc/<pid>: used to count a server's
 * CPU during a measurement. Undefined when it is not visible (a server of
 * another user, or in another container).
 */
export function listenerPid(port: number): number | undefined {
  const hexPort = port.toString(16).toUpperCase().padStart(4, "0");
  const inodes = new Set<string>();
  for (const table of ["/proc/net/tcp", "/proc/net/tcp6"]) {
    let text = "";
    try {
      text = readFileSync(table, "utf8");
    } catch {
      continue;
    }
    for (const line of text.split("\n").slice(1)) {
      const f = line.trim().split(/\s+/);
      // local_address is field 1 (ADDR:PORT), st field 3 ("0A" is LISTEN), inode field 9.
      if (f[1]?.endsWith(`:${hexPort}`) && f[3] === "0A") inodes.add(f[9]!);
    }
  }
  if (inodes.size === 0) return undefined;
  for (const pid of readdirSync("/proc").filter((d) => /^\d+$/.test(d))) {
    let fds: string[];
    try {
      fds = readdirSync(`/proc/${pid}/fd`);
    } catch {
      continue;
    }
    for (const fd of fds) {
      try {
        const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
        if (m && inodes.has(m[1]!)) return Number(pid);
      } catch {
        // The fd closed meanwhile.
      }
    }
  }
  return undefined;
}
