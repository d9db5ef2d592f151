/**
 * SIGHUP (systemd's ExecReload) re-reads the access policy of `dt master`
 * and `dt isolate-server`, on real processes: a write refused under a config
 * that allows nothing passes once the config allows loopback and the server
 * was sent SIGHUP, on the very connection opened before; a broken config on
 * the next SIGHUP is logged naming the file, and the old policy stays.
 */
import { afterEach, describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Socket } from "bun";
import { createLogger } from "../../src/common/log.ts";
import { type AuthPolicy, defaultAuthPolicy, describeAuthPolicy } from "../../src/common/auth/policy.ts";
import { reloadAuthPolicy } from "../../src/service/policy-reload.ts";
import { cliEnv } from "../helpers/cli.ts";
import { TempDirs } from "../helpers/temp.ts";
import { waitUntil } from "../helpers/wait.ts";
import { DtProcess } from "../e2e/processes.ts";

const MAIN = join(import.meta.dir, "..", "..", "src", "main.ts");
/** A config that lets no address write without a password, and has no accounts: every write is refused. */
const NOBODY_WRITES = "[dist_test]\nallowed_ip_ranges =\n";
const LOOPBACK_WRITES = "[dist_test]\nallowed_ip_ranges = 127.0.0.1\n";
/** Not JSON: loadAuthPolicy refuses it. */
const BROKEN = "[dist_test]\nallowed_ip_ranges = 127.0.0.1\naccounts = {alice: secret}\n";

const temps = new TempDirs();
const processes: DtProcess[] = [];
const connections: KeepAliveConnection[] = [];
afterEach(async () => {
  for (const c of connections.splice(0)) c.close();
  for (const p of processes.splice(0)) p.killGroup("SIGKILL");
  await temps.cleanup();
});

describe("reloadAuthPolicy", () => {
  test("applies a config that loads and logs the new policy; keeps the old one on a broken config, logging the file and the problem", async () => {
    const dir = await temps.make("dt-reload-");
    const config = join(dir, "dt.cnf");
    let log = "";
    const applied: AuthPolicy[] = [];
    const options = {
      env: { DIST_TEST_CNF: config, HOME: dir },
      log: createLogger({ stream: { write: (line: string) => ((log += line), true) } as NodeJS.WritableStream }),
      apply: (policy: AuthPolicy) => applied.push(policy),
      current: () => applied.at(-1) ?? defaultAuthPolicy(),
    };

    writeFileSync(config, LOOPBACK_WRITES);
    expect(reloadAuthPolicy(options)).toBe(true);
    expect(applied.map(describeAuthPolicy)).toEqual(["writes from 127.0.0.1/32, no accounts; reads open to all"]);
    expect(log).toBe(`dt: reloaded ${config}; access: writes from 127.0.0.1/32, no accounts; reads open to all\n`);

    log = "";
    writeFileSync(config, BROKEN);
    expect(reloadAuthPolicy(options)).toBe(false);
    expect(applied).toHaveLength(1);
    expect(log).toStartWith("dt error: reload failed, the access policy in force is kept (writes from 127.0.0.1/32, no accounts; reads open to all): ");
    expect(log).toContain(`${config}: accounts under [dist_test] is not valid JSON`);
    // Config's own messages name the file already: once is enough.
    log = "";
    writeFileSync(config, "[dist_test\n");
    expect(reloadAuthPolicy(options)).toBe(false);
    expect(log.split(config)).toHaveLength(2);
    expect(log).toContain(`${config}:1: expected "[section]" or "key = value"`);
  });
});

const SERVERS = [
  { command: "master", listening: /master listening on http:\/\/127\.0\.0\.1:(\d+)/ },
  { command: "isolate-server", listening: /isolate server listening on http:\/\/127\.0\.0\.1:(\d+)/ },
] as const;

describe.each(SERVERS)("dt $command on SIGHUP", ({ command, listening }) => {
  test("takes the new access policy without dropping a connection, keeps it when the file is broken, and exits 0 on SIGTERM", async () => {
    const dir = await temps.make("dt-sighup-");
    const config = join(dir, "dt.cnf");
    writeFileSync(config, NOBODY_WRITES);
    const proc = Bun.spawn([process.execPath, MAIN, command, "--port", "0", "--host", "127.0.0.1", "--data-dir", join(dir, "data")], {
      cwd: dir, env: cliEnv(join(dir, "home"), { DIST_TEST_CNF: config }), stdin: "ignore", stdout: "pipe", stderr: "pipe", detached: true,
    });
    const server = new DtProcess(command, proc);
    processes.push(server);
    const port = Number((await server.waitForOutput(listening, "its listening line"))[1]);
    expect(server.output).toContain("access: writes from no address without a password, no accounts; reads open to all");

    // One connection for the whole test: a reload must not close it.
    const connection = await KeepAliveConnection.open(port);
    connections.push(connection);
    expect(await connection.putBlob("before")).toBe(403);

    writeFileSync(config, LOOPBACK_WRITES);
    process.kill(server.pid, "SIGHUP");
    await server.waitForOutput(/reloaded .*dt\.cnf; access: writes from 127\.0\.0\.1\/32, no accounts; reads open to all/, "the reload's log line", 5_000);
    expect(await connection.putBlob("after the reload")).toBe(201);

    writeFileSync(config, BROKEN);
    process.kill(server.pid, "SIGHUP");
    const error = await server.waitForOutput(/dt error: reload failed.*/, "the failed reload's log line", 5_000);
    expect(error[0]).toContain(`(writes from 127.0.0.1/32, no accounts; reads open to all): ${config}: accounts under [dist_test] is not valid JSON`);
    expect(await connection.putBlob("after the broken reload")).toBe(201);
    expect(connection.closed).toBe(false);

    connection.close();
    process.kill(server.pid, "SIGTERM");
    expect(await server.waitExit(15_000)).toBe(0);
  }, 30_000);
});

/**
 * One HTTP/1.1 connection kept open across requests, to show that a
 * request on a connection made before a reload is judged by the new policy.
 */
class KeepAliveConnection {
  /** Set when the server closed the connection. */
  closed = false;
  private buffer = "";

  private constructor(private socket: Socket<undefined> | undefined) {}

  static async open(port: number): Promise<KeepAliveConnection> {
    const connection = new KeepAliveConnection(undefined);
    connection.socket = await Bun.connect({
      hostname: "127.0.0.1",
      port,
      socket: {
        data: (_socket, data) => {
          connection.buffer += new TextDecoder().decode(data);
        },
        close: () => {
          connection.closed = true;
        },
      },
    });
    return connection;
  }

  /** PUTs `content` as a CAS blob; returns the status (201 stored, 403 refused). */
  async putBlob(content: string): Promise<number> {
    const hash = new Bun.CryptoHasher("sha256").update(content).digest("hex");
    const length = Buffer.byteLength(content);
    this.socket!.write(`PUT /api/cas/v1/blobs/${hash}?size=${length} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: ${length}\r\n\r\n${content}`);
    // The response is complete once its head and Content-Length bytes of body are in.
    const complete = (): number | undefined => {
      const head = this.buffer.indexOf("\r\n\r\n");
      if (head < 0) return undefined;
      const bodyLength = Number(/\r\ncontent-length: *(\d+)/i.exec(this.buffer.slice(0, head))?.[1] ?? 0);
      return this.buffer.length >= head + 4 + bodyLength ? head + 4 + bodyLength : undefined;
    };
    await waitUntil(() => {
      if (this.closed) throw new Error(`the server closed the connection; it sent ${JSON.stringify(this.buffer)}`);
      return complete() !== undefined;
    }, `the answer to PUT ${hash}`);
    const end = complete()!;
    const status = Number(this.buffer.slice(9, 12));
    this.buffer = this.buffer.slice(end);
    return status;
  }

  close(): void {
    this.socket?.end();
  }
}
