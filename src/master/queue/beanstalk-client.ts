/**
 * A beanstalkd client over one `Bun.connect` TCP connection: commands are
 * pipelined in the order they are called and beanstalkd answers them in that
 * order, so each answer settles the oldest pending command.
 *
 * Written here rather than wrapping npm `jackd` (2.2.2, read before choosing):
 * jackd leaves pending commands unsettled when the socket closes (a slave
 * would hang on a dead server), swallows the next pipelined answer into a job
 * body when both arrive in one packet (it takes the whole buffer as the body
 * once it is long enough), keeps ids as strings, parses no YAML and has no
 * command timeout. The protocol is small; owning it costs ~450 lines (with
 * beanstalk-protocol.ts) and no dependency, and works unchanged in a
 * `bun build --compile` binary.
 *
 * No reconnect inside: the jobs a connection reserved die with it, so only
 * the caller knows what to redo (re-`use`, re-`watch`, forget its jobs).
 *
 * One connection is one queue of commands: a `touch` or `delete` sent while a
 * reserve-with-timeout waits is answered only after that reserve is. A slave
 * that must touch while it waits either uses short reserve timeouts (the
 * server ends a holder's reserve with DEADLINE_SOON, null here, a second
 * before a held job's TTR) or a second connection, which cannot touch the
 * first one's jobs. And beanstalkd 1.12 often misses the TTR of a job whose
 * holder sends nothing at all (its timer fires a moment early and is not
 * re-armed): such a job stays reserved until that connection sends a command
 * or closes, so a hung slave with an open socket needs the master's own lease.
 *
 * @example
 *   const bs = await BeanstalkClient.connect(parseBeanstalkUrl("beanstalk://127.0.0.1:11300"));
 *   await bs.use("dt.any");
 *   const id = await bs.put("hello", { priority: 0, delaySec: 0, ttrSec: 60 });
 */
import type { Socket } from "bun";
import { DtError } from "../../common/errors.ts";
import { ResponseReader, type Response, SERVER_ERRORS, expectData, expectJob, expectWord, found, parseYamlDict, parseYamlList } from "./beanstalk-protocol.ts";

export interface BeanstalkAddress {
  host: string;
  port: number;
}
export interface ReservedJob {
  id: number;
  body: Uint8Array;
}
export interface PutOptions {
  /** 0 is most urgent, 2^32-1 least. */
  priority: number;
  delaySec: number;
  /** Seconds a reserver has before the job is ready again; beanstalkd raises 0 to 1. */
  ttrSec: number;
}
export interface ConnectOptions {
  /** A LAN server answers a connect in milliseconds; 10 s covers a loaded machine without hanging start-up. */
  connectTimeoutMs?: number;
  /**
   * How long one command may wait for its answer once the ones before it are
   * answered, after which the connection is closed as dead. beanstalkd answers
   * in microseconds; 30 s only catches a hung server or a dead network path.
   * A reserve-with-timeout gets its own timeout plus 5 s instead.
   */
  commandTimeoutMs?: number;
}

const DEFAULT_PORT = 11300;
const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;
const DEFAULT_COMMAND_TIMEOUT_MS = 30_000;
/** Beyond a reserve's own timeout: the server's timer granularity and a busy event loop on either side. */
const RESERVE_MARGIN_MS = 5_000;
const MAX_PRIORITY = 2 ** 32 - 1;

/** Parses "beanstalk://host:port", "beanstalkd://host:port" or "host:port" (default port 11300). */
export function parseBeanstalkUrl(url: string): BeanstalkAddress {
  const match = /^(?:beanstalkd?:\/\/)?(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9._-]+)(?::(\d{1,5}))?\/?$/.exec(url.trim());
  const port = match?.[2] === undefined ? DEFAULT_PORT : Number(match[2]);
  if (!match || port < 1 || port > 65535) {
    throw new DtError("invalid_input", `not a beanstalkd address: ${JSON.stringify(url)}; expected beanstalk://host:port or host:port (port ${DEFAULT_PORT} by default)`);
  }
  return { host: match[1]!.replace(/^\[(.*)\]$/, "$1"), port };
}

/** Tube names: 1-200 bytes of letters, digits and -+/;.$_() not starting with '-'. */
export function isTubeName(name: string): boolean {
  return /^[A-Za-z0-9+/;.$_()][A-Za-z0-9\-+/;.$_()]{0,199}$/.test(name);
}

/** Keys whose values are text even when they look like numbers (a tube named "42", the server's hex id). */
const TEXT_KEYS = new Set(["name", "tube", "version", "hostname", "os", "platform"]);
const SERVER_TEXT_KEYS = new Set([...TEXT_KEYS, "id"]);

interface Pending {
  /** The command line as sent, without a body: errors name it. */
  command: string;
  allowanceMs: number;
  settle(response: Response): void;
  reject(err: DtError): void;
}

export class BeanstalkClient {
  readonly address: BeanstalkAddress;
  private readonly socket: Socket<undefined>;
  private readonly commandTimeoutMs: number;
  private readonly reader = new ResponseReader();
  /** Sent (or queued to send), not yet answered; oldest first. */
  private readonly pending: Pending[] = [];
  /** Bytes the kernel did not take yet (backpressure); written on drain, in order. */
  private readonly unsent: Uint8Array[] = [];
  /** Runs for the oldest pending command only: the server answers in order, so later ones cannot be late yet. */
  private headTimer: ReturnType<typeof setTimeout> | undefined;
  private closeReason: string | undefined;

  private constructor(address: BeanstalkAddress, socket: Socket<undefined>, commandTimeoutMs: number) {
    this.address = address;
    this.socket = socket;
    this.commandTimeoutMs = commandTimeoutMs;
  }

  /** Opens the connection; DtError "unreachable" naming host:port when it cannot. */
  static async connect(address: BeanstalkAddress, options: ConnectOptions = {}): Promise<BeanstalkClient> {
    const where = `${address.host}:${address.port}`;
    const connectTimeoutMs = options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
    // The handlers exist before the client does; nothing is sent (so nothing arrives) until it does.
    let client: BeanstalkClient | undefined;
    let closedEarly = false;
    const gone = (reason: string): void => {
      if (client) client.shutDown(reason);
      else closedEarly = true;
    };
    const connecting = Bun.connect({
      hostname: address.host,
      port: address.port,
      socket: {
        data: (_socket, chunk) => client?.onData(chunk),
        drain: () => client?.flush(),
        end: () => gone(`beanstalkd at ${where} closed the connection`),
        close: (_socket, err) => gone(`connection to beanstalkd at ${where} closed${err ? ` (${err.message})` : ""}`),
        error: (_socket, err) => gone(`connection to beanstalkd at ${where} failed: ${err.message}`),
        connectError: () => {},
      },
    });
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer within ${connectTimeoutMs} ms`)), connectTimeoutMs);
    });
    let socket: Socket<undefined>;
    try {
      socket = await Promise.race([connecting, late]);
    } catch (err) {
      connecting.then((s) => s.terminate(), () => {});
      throw new DtError("unreachable", `cannot connect to beanstalkd at ${where}: ${(err as Error).message}; check that it runs and listens there`, { cause: err });
    } finally {
      clearTimeout(timer);
    }
    socket.setNoDelay(true);
    client = new BeanstalkClient(address, socket, options.commandTimeoutMs ?? DEFAULT_COMMAND_TIMEOUT_MS);
    if (closedEarly) client.shutDown(`beanstalkd at ${where} closed the connection right after accepting it`);
    return client;
  }

  /** True once the socket closed (server gone, or close() called); commands then reject with DtError "unreachable". */
  get closed(): boolean {
    return this.closeReason !== undefined;
  }

  /** Closes the connection; pending commands reject, and jobs this connection reserved become ready again. */
  close(): void {
    this.shutDown(`connection to beanstalkd at ${this.where} was closed by dt`);
    this.socket.end();
  }

  async use(tube: string): Promise<void> {
    checkTube(tube);
    await this.send(`use ${tube}`, (r) => expectWord(r, "USING"));
  }

  /** The new job's id. JOB_TOO_BIG is DtError "too_large"; DRAINING and BURIED (server out of memory) are "unreachable". */
  async put(body: Uint8Array | string, options: PutOptions): Promise<number> {
    const bytes = typeof body === "string" ? new TextEncoder().encode(body) : body;
    checkUint(options.priority, "priority", MAX_PRIORITY);
    checkUint(options.delaySec, "delay");
    checkUint(options.ttrSec, "ttr");
    const command = `put ${options.priority} ${options.delaySec} ${options.ttrSec} ${bytes.length}`;
    return this.send(
      command,
      (r) => {
        if (r.line === "JOB_TOO_BIG") throw new DtError("too_large", `beanstalkd at ${this.where} refused a job of ${bytes.length} bytes (JOB_TOO_BIG); raise its -z limit or send a smaller job`);
        if (r.line === "DRAINING") throw new DtError("unreachable", `beanstalkd at ${this.where} is draining and takes no new jobs`);
        const buried = /^BURIED (\d+)$/.exec(r.line);
        if (buried) throw new DtError("unreachable", `beanstalkd at ${this.where} ran out of memory and buried the new job ${buried[1]}`);
        return Number(expectWord(r, "INSERTED"));
      },
      bytes,
    );
  }

  /** The number of tubes now watched. */
  async watch(tube: string): Promise<number> {
    checkTube(tube);
    return this.send(`watch ${tube}`, (r) => Number(expectWord(r, "WATCHING")));
  }

  /** The number of tubes now watched; ignoring the last watched tube is refused (NOT_IGNORED), which leaves that one: 1. */
  async ignore(tube: string): Promise<number> {
    checkTube(tube);
    return this.send(`ignore ${tube}`, (r) => (r.line === "NOT_IGNORED" ? 1 : Number(expectWord(r, "WATCHING"))));
  }

  /** null on TIMED_OUT and on DEADLINE_SOON (a job this connection holds is within 1 s of its TTR: the caller should touch it). */
  async reserveWithTimeout(timeoutSec: number): Promise<ReservedJob | null> {
    checkUint(timeoutSec, "reserve timeout");
    return this.send(
      `reserve-with-timeout ${timeoutSec}`,
      (r) => (r.line === "TIMED_OUT" || r.line === "DEADLINE_SOON" ? null : expectJob(r, "RESERVED")),
      undefined,
      timeoutSec * 1000 + RESERVE_MARGIN_MS,
    );
  }

  /** false on NOT_FOUND: the job is gone or this connection does not hold it. */
  async touch(id: number): Promise<boolean> {
    return this.send(`touch ${checkId(id)}`, (r) => found(r, "TOUCHED"));
  }

  async delete(id: number): Promise<boolean> {
    return this.send(`delete ${checkId(id)}`, (r) => found(r, "DELETED"));
  }

  async release(id: number, priority: number, delaySec: number): Promise<boolean> {
    checkUint(priority, "priority", MAX_PRIORITY);
    checkUint(delaySec, "delay");
    return this.send(`release ${checkId(id)} ${priority} ${delaySec}`, (r) => {
      if (r.line === "BURIED") throw new DtError("unreachable", `beanstalkd at ${this.where} ran out of memory and buried job ${id} instead of releasing it`);
      return found(r, "RELEASED");
    });
  }

  async bury(id: number, priority: number): Promise<boolean> {
    checkUint(priority, "priority", MAX_PRIORITY);
    return this.send(`bury ${checkId(id)} ${priority}`, (r) => found(r, "BURIED"));
  }

  /** Makes a buried or delayed job ready; false when there is no such job in either state. */
  async kickJob(id: number): Promise<boolean> {
    return this.send(`kick-job ${checkId(id)}`, (r) => found(r, "KICKED"));
  }

  async peek(id: number): Promise<ReservedJob | null> {
    return this.send(`peek ${checkId(id)}`, (r) => (r.line === "NOT_FOUND" ? null : expectJob(r, "FOUND")));
  }

  async statsJob(id: number): Promise<Record<string, string | number> | null> {
    return this.send(`stats-job ${checkId(id)}`, (r) => (r.line === "NOT_FOUND" ? null : parseYamlDict(expectData(r), TEXT_KEYS)));
  }

  async statsTube(tube: string): Promise<Record<string, string | number> | null> {
    checkTube(tube);
    return this.send(`stats-tube ${tube}`, (r) => (r.line === "NOT_FOUND" ? null : parseYamlDict(expectData(r), TEXT_KEYS)));
  }

  async stats(): Promise<Record<string, string | number>> {
    return this.send("stats", (r) => parseYamlDict(expectData(r), SERVER_TEXT_KEYS));
  }

  async listTubes(): Promise<string[]> {
    return this.send("list-tubes", (r) => parseYamlList(expectData(r)));
  }

  async listTubesWatched(): Promise<string[]> {
    return this.send("list-tubes-watched", (r) => parseYamlList(expectData(r)));
  }

  private get where(): string {
    return `${this.address.host}:${this.address.port}`;
  }

  /**
   * Queues `command` (and a put's body) and resolves with `interpret` of its
   * answer. A server error line rejects this command only: the answers stay
   * in step, so the connection stays usable.
   */
  private send<T>(command: string, interpret: (r: Response) => T, body?: Uint8Array, allowanceMs = this.commandTimeoutMs): Promise<T> {
    if (this.closeReason !== undefined) return Promise.reject(new DtError("unreachable", `cannot send "${command}": ${this.closeReason}`));
    return new Promise<T>((resolve, reject) => {
      const settle = (r: Response) => {
        const failure = SERVER_ERRORS.get(r.line);
        if (failure) return reject(new DtError(failure.code, `beanstalkd at ${this.where} ${failure.meaning} (${r.line} answering "${command}")`));
        try {
          resolve(interpret(r));
        } catch (err) {
          reject(err instanceof DtError ? err : new DtError("internal", `unexpected answer "${r.line}" from beanstalkd at ${this.where} to "${command}"`, { cause: err }));
        }
      };
      this.pending.push({ command, allowanceMs, settle, reject });
      if (this.pending.length === 1) this.armHeadTimer();
      const line = new TextEncoder().encode(`${command}\r\n`);
      if (body) {
        // One buffer, so a put is never interleaved with another command's bytes.
        const framed = new Uint8Array(line.length + body.length + 2);
        framed.set(line);
        framed.set(body, line.length);
        framed.set([13, 10], line.length + body.length);
        this.unsent.push(framed);
      } else {
        this.unsent.push(line);
      }
      this.flush();
    });
  }

  private flush(): void {
    while (this.unsent.length > 0 && this.closeReason === undefined) {
      const chunk = this.unsent[0]!;
      const written = this.socket.write(chunk);
      if (written < 0) return this.shutDown(`connection to beanstalkd at ${this.where} closed while writing`);
      if (written < chunk.length) {
        this.unsent[0] = chunk.subarray(written);
        return; // the drain handler calls flush again
      }
      this.unsent.shift();
    }
  }

  private onData(chunk: Uint8Array): void {
    try {
      for (const response of this.reader.feed(chunk)) {
        const head = this.pending.shift();
        if (!head) throw new Error(`an answer nobody asked for: "${response.line}"`);
        this.armHeadTimer();
        head.settle(response);
      }
    } catch (err) {
      // The stream is out of step: no later answer can be matched to its command.
      this.shutDown(`beanstalkd at ${this.where} broke the protocol: ${(err as Error).message}`);
      this.socket.terminate();
    }
  }

  private armHeadTimer(): void {
    clearTimeout(this.headTimer);
    const head = this.pending[0];
    if (!head || this.closeReason !== undefined) return;
    this.headTimer = setTimeout(() => {
      this.shutDown(`beanstalkd at ${this.where} did not answer "${head.command}" within ${head.allowanceMs} ms; the connection was closed`);
      this.socket.terminate();
    }, head.allowanceMs);
  }

  /** Marks the client closed and rejects every pending command with `reason`; idempotent. */
  private shutDown(reason: string): void {
    if (this.closeReason !== undefined) return;
    this.closeReason = reason;
    clearTimeout(this.headTimer);
    this.unsent.length = 0;
    for (const p of this.pending.splice(0)) p.reject(new DtError("unreachable", `no answer to "${p.command}": ${reason}`));
  }
}

function checkTube(tube: string): void {
  if (!isTubeName(tube)) throw new DtError("invalid_input", `not a beanstalkd tube name: ${JSON.stringify(tube)}; use 1-200 letters, digits or -+/;.$_() not starting with '-'`);
}

function checkUint(value: number, what: string, max = 2 ** 32 - 1): void {
  if (!Number.isInteger(value) || value < 0 || value > max) throw new DtError("invalid_input", `beanstalkd ${what} must be an integer from 0 to ${max}, not ${value}`);
}

function checkId(id: number): number {
  if (!Number.isSafeInteger(id) || id < 1) throw new DtError("invalid_input", `not a beanstalkd job id: ${id}`);
  return id;
}
