/**
 * A private beanstalkd child process for tests that kill and restart the
 * server (never the shared one named by DT_TEST_BEANSTALKD): its own port on
 * 127.0.0.1 and, when asked, its own binlog directory. `stop()` is SIGKILL,
 * a crash: what survives it is what beanstalkd had written to its binlog,
 * which is the case dt must handle.
 *
 * @example
 *   const bs = await startBeanstalkd({ binlogDir: await temps.make("binlog-") });
 *   if (!bs) return; // beanstalkdMissing() says why
 *   try { ... await bs.stop(); await bs.restart(); ... } finally { await bs.destroy(); }
 */
import { existsSync } from "node:fs";
import type { Subprocess } from "bun";
import type { BeanstalkAddress } from "../../src/master/queue/beanstalk-client.ts";

export const BEANSTALKD_BIN = "/usr/bin/beanstalkd";
/** beanstalkd starts in milliseconds; replaying a binlog of a few jobs adds little. Generous for a loaded 2-core machine. */
const START_DEADLINE_MS = 10_000;

export interface PrivateBeanstalkd {
  address: BeanstalkAddress;
  /** beanstalk://127.0.0.1:PORT */
  url: string;
  /** SIGKILLs the server and waits for it to exit; a no-op when it is not running. */
  stop(): Promise<void>;
  /** Starts it again on the same port and binlog directory; resolves once it answers `stats`. */
  restart(): Promise<void>;
  /** stop(); for afterEach/afterAll, never throws. The binlog directory is the caller's to remove. */
  destroy(): Promise<void>;
  /** What the server wrote to stderr, for failure messages. */
  log(): string;
}

export interface BeanstalkdOptions {
  /** Passed as -b: jobs survive a restart. Without it the server keeps jobs in memory only. */
  binlogDir?: string;
  /** A free port is chosen when absent. */
  port?: number;
  /** Passed as -z (beanstalkd's default is 65,535 bytes). */
  maxJobBytes?: number;
}

/** Why private-server tests cannot run here, or undefined when they can. */
export function beanstalkdMissing(): string | undefined {
  return existsSync(BEANSTALKD_BIN) ? undefined : `${BEANSTALKD_BIN} is not installed (apt-get install -y beanstalkd)`;
}

/** A TCP port that nothing listens on right now (the kernel's pick, released at once). */
export function freePort(): number {
  const probe = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const port = probe.port;
  probe.stop(true);
  return port;
}

/** Starts a private beanstalkd; null when it is not installed (see beanstalkdMissing). */
export async function startBeanstalkd(options: BeanstalkdOptions = {}): Promise<PrivateBeanstalkd | null> {
  if (beanstalkdMissing()) return null;
  const port = options.port ?? freePort();
  const args = [BEANSTALKD_BIN, "-l", "127.0.0.1", "-p", String(port)];
  if (options.binlogDir) args.push("-b", options.binlogDir);
  if (options.maxJobBytes) args.push("-z", String(options.maxJobBytes));
  let proc: Subprocess<"ignore", "ignore", "pipe"> | undefined;
  let stderr = "";
  const running = () => proc !== undefined && proc.exitCode === null && proc.signalCode === null;

  const stop = async () => {
    if (!proc || !running()) return;
    proc.kill("SIGKILL");
    await proc.exited;
  };
  const restart = async () => {
    if (running()) throw new Error(`the private beanstalkd on port ${port} already runs`);
    const child = Bun.spawn(args, { stdin: "ignore", stdout: "ignore", stderr: "pipe" });
    proc = child;
    void (async () => {
      for await (const chunk of child.stderr) stderr += new TextDecoder().decode(chunk);
    })();
    const deadline = performance.now() + START_DEADLINE_MS;
    while (!(await answersStats(port))) {
      if (child.exitCode !== null || child.signalCode !== null) throw new Error(`beanstalkd (${args.join(" ")}) exited ${child.exitCode ?? child.signalCode} while starting:\n${stderr}`);
      if (performance.now() > deadline) throw new Error(`beanstalkd on port ${port} did not answer stats within ${START_DEADLINE_MS} ms:\n${stderr}`);
      await Bun.sleep(20);
    }
  };

  await restart();
  return {
    address: { host: "127.0.0.1", port },
    url: `beanstalk://127.0.0.1:${port}`,
    stop,
    restart,
    destroy: () => stop().catch(() => {}),
    log: () => stderr,
  };
}

/** True once a server on 127.0.0.1:port answers `stats` with its OK line; false on refusal or silence. */
async function answersStats(port: number): Promise<boolean> {
  const { promise, resolve } = Promise.withResolvers<boolean>();
  let seen = "";
  const socket = await Bun.connect({
    hostname: "127.0.0.1",
    port,
    socket: {
      open: (s) => void s.write("stats\r\n"),
      data: (s, chunk) => {
        seen += new TextDecoder().decode(chunk);
        if (seen.includes("\r\n")) {
          resolve(seen.startsWith("OK "));
          s.end();
        }
      },
      close: () => resolve(false),
      error: () => resolve(false),
      connectError: () => resolve(false),
    },
  }).catch(() => undefined);
  if (!socket) return false;
  const timer = setTimeout(() => {
    resolve(false);
    socket.terminate();
  }, 1_000);
  try {
    return await promise;
  } finally {
    clearTimeout(timer);
  }
}
