/**
 * The mysql2 side of a MysqlRepo: the URL, creating the database, the pool
 * and its per-connection settings, telling a lost connection from a failed
 * statement, and bulk inserts.
 */
import { DrizzleQueryError, getTableColumns, getTableName, type Table } from "drizzle-orm";
import mysql, { type Pool, type PoolConnection, type RowDataPacket, type SqlValue } from "mysql2/promise";
import { DtError, isDtError } from "../../common/errors.ts";

/** Where a MysqlRepo connects, from its URL. `display` is the URL without its password, for messages. */
export interface MysqlTarget {
  user: string;
  password?: string;
  host?: string;
  port?: number;
  socketPath?: string;
  database: string;
  display: string;
}

const DEFAULT_PORT = 3306;
/** Letters, digits, `_`, `$` and `-`, as MySQL allows unquoted (bar `-`) and within its 64-character limit. */
const DATABASE_NAME = /^[A-Za-z0-9_$-]{1,64}$/;

/**
 * Reads `mysql://user:pass@host:port/db` (TCP; port 3306 when omitted) or
 * `mysql://user@localhost/db?socket=/run/mysqld/mysqld.sock` (a Unix socket;
 * the host is then ignored). User and password are percent-decoded.
 */
export function parseMysqlUrl(url: string): MysqlTarget {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new DtError("invalid_input", `not a MySQL URL: ${url}; write mysql://user:password@host:3306/database or mysql://user@localhost/database?socket=/path/to/mysqld.sock`);
  }
  const password = decodeURIComponent(parsed.password);
  if (password) parsed.password = "***";
  const display = parsed.toString();
  if (parsed.protocol !== "mysql:" && parsed.protocol !== "mariadb:") {
    throw new DtError("invalid_input", `${display} is not a mysql:// URL; write mysql://user:password@host:3306/database`);
  }
  const database = decodeURIComponent(parsed.pathname.replace(/^\//, ""));
  if (!DATABASE_NAME.test(database)) {
    throw new DtError("invalid_input", `${display} names no usable database ("${database}"); end the URL with /NAME, NAME made of letters, digits, _, $ or -, at most 64 characters`);
  }
  const unknown = [...parsed.searchParams.keys()].filter((k) => k !== "socket");
  if (unknown.length > 0) throw new DtError("invalid_input", `${display}: unknown parameter ${unknown.join(", ")}; the only one is socket=/path/to/mysqld.sock`);
  const socketPath = parsed.searchParams.get("socket") ?? undefined;
  const target: MysqlTarget = { user: decodeURIComponent(parsed.username) || "root", database, display };
  if (password) target.password = password;
  if (socketPath) target.socketPath = socketPath;
  else Object.assign(target, { host: parsed.hostname.replace(/^\[(.*)\]$/, "$1") || "localhost", port: parsed.port ? Number(parsed.port) : DEFAULT_PORT });
  return target;
}

function connectionOptions(target: MysqlTarget): mysql.ConnectionOptions {
  const { user, password, host, port, socketPath } = target;
  return {
    user,
    password,
    ...(socketPath ? { socketPath } : { host, port }),
    // A server that does not answer within 10 s is down for our purposes; the caller reports it.
    connectTimeout: 10_000,
    // TCP keepalive: a server that vanished without closing the socket (a dead host) is noticed rather than waited on forever.
    enableKeepAlive: true,
    charset: "utf8mb4",
  };
}

/** Creates `target.database` when it is missing (needs the CREATE privilege then; none when it exists). */
async function ensureDatabase(target: MysqlTarget): Promise<void> {
  let conn: mysql.Connection | undefined;
  try {
    conn = await mysql.createConnection(connectionOptions(target));
    await conn.query(`CREATE DATABASE IF NOT EXISTS ${mysql.escapeId(target.database)}`);
  } catch (err) {
    throw openError(target, err);
  } finally {
    await conn?.end().catch(() => {});
  }
}

/**
 * At most this many connections at once. The master's writes are short; a
 * transaction holds one for its length. 10 keeps well under MariaDB's default
 * max_connections (151) with room for several masters and an operator.
 */
const POOL_SIZE = 10;

/**
 * Every connection runs with these settings, whatever the server's defaults:
 * strict mode so a too-long value fails instead of being cut, and backslash
 * escapes on because mysql2 escapes values client-side assuming them.
 */
const SESSION_SQL_MODE = "STRICT_TRANS_TABLES,NO_ENGINE_SUBSTITUTION";

/**
 * Creates the database when missing, opens a pool on it and runs `prepare`
 * (the migrations) on one of its connections.
 */
export async function openMysqlPool(target: MysqlTarget, prepare: (conn: PoolConnection) => Promise<void>): Promise<MysqlPool> {
  await ensureDatabase(target);
  const pool = createPool(target);
  try {
    const conn = await pool.getConnection();
    try {
      await prepare(conn);
      const [[row]] = await conn.query<RowDataPacket[]>("SELECT @@max_allowed_packet AS n");
      return new MysqlPool(pool, target, Number(row!.n));
    } finally {
      conn.release();
    }
  } catch (err) {
    await pool.end().catch(() => {});
    throw isDtError(err) ? err : openError(target, err);
  }
}

/** A pool on the (existing) database. A connection that the server drops leaves the pool; the next call opens a new one. */
function createPool(target: MysqlTarget): Pool {
  const pool = mysql.createPool({ ...connectionOptions(target), database: target.database, connectionLimit: POOL_SIZE, maxIdle: POOL_SIZE, waitForConnections: true });
  pool.pool.on("connection", (conn) => {
    // mysql2 reports a dropped idle connection as an 'error' event; with no listener left it would end the process.
    conn.on("error", () => {});
    // Queued before the statement that asked for the connection, so it runs first.
    conn.query(`SET SESSION sql_mode = '${SESSION_SQL_MODE}'`, () => {});
    // READ COMMITTED: a locking read locks the rows it finds, not the gaps between them. Writers of one job's cases are serialized by
    // the lock on its job row (mysql-cases.ts lockJob); under REPEATABLE READ, two new jobs' `max(seq) … FOR UPDATE` both locked the gap
    // at the end of job_cases and their inserts deadlocked (concurrent submits that reuse results, concurrent first reports).
    conn.query("SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED", () => {});
  });
  return pool;
}

/** The mysql2 error under drizzle's "Failed query: …" wrapper. */
export function driverError(err: unknown): Error & { code?: string; errno?: number; fatal?: boolean } {
  return (err instanceof DrizzleQueryError && err.cause instanceof Error ? err.cause : err) as Error;
}

/** Server answers that mean the connection is gone, not that the statement was wrong. */
const LOST_CODES = new Set(["ER_SERVER_SHUTDOWN", "ER_CONNECTION_KILLED", "ER_NORMAL_SHUTDOWN", "PROTOCOL_CONNECTION_LOST", "ECONNRESET", "EPIPE"]);

/** True when `err` means the connection (or the server) is gone rather than that the statement failed. */
export function isConnectionLost(err: unknown): boolean {
  const e = driverError(err);
  return e.fatal === true || LOST_CODES.has(e.code ?? "");
}

/** Failures to connect: no server at that address (yet), or none answering. */
const CONNECT_CODES = new Set(["ECONNREFUSED", "ENOENT", "ETIMEDOUT", "ENOTFOUND", "EHOSTUNREACH", "EAI_AGAIN"]);

/** True when `err` means the server cannot be reached or the connection is gone: worth a new connection, not a different statement. */
export function isUnreachable(err: unknown): boolean {
  return isConnectionLost(err) || CONNECT_CODES.has(driverError(err).code ?? "");
}

/** True when `err` shows the statement never left this process: mysql2 refused it on a connection it already knew was closed. */
export function neverSent(err: unknown): boolean {
  return driverError(err).message.startsWith("Can't add new command when connection is in closed state");
}

export const ER_DUP_ENTRY = 1062;

/** An error from opening: unreachable server, refused login or missing rights, each with what to check. */
export function openError(target: MysqlTarget, err: unknown): DtError {
  const e = driverError(err);
  const what = `cannot open MySQL database ${target.display}: ${e.message}`;
  if (e.code === "ER_ACCESS_DENIED_ERROR") return new DtError("invalid_input", `${what}; check the URL's user and password`, { cause: err });
  if (e.code === "ER_DBACCESS_DENIED_ERROR" || e.code === "ER_TABLEACCESS_DENIED_ERROR") {
    return new DtError("invalid_input", `${what}; grant the user ALL on ${target.database} (or create the database for it)`, { cause: err });
  }
  if (isUnreachable(err)) {
    return new DtError("unreachable", `${what}; check that the server runs and listens where the URL says`, { cause: err });
  }
  return new DtError("internal", what, { cause: err });
}

/**
 * Characters of SQL per multi-row INSERT: 100,000 tasks make about twenty
 * statements, so building one overlaps the server storing the one before.
 * A character is at most 3 bytes of UTF-8 (a surrogate pair, two characters,
 * is 4), so a statement of max_allowed_packet / 4 characters fits the packet
 * (16 MiB by default on MariaDB, 64 MiB on MySQL 8): the smaller limit wins.
 */
const INSERT_CHARS = 1 << 20;

/**
 * Multi-row INSERTs of `rows` into `table` on `conn`, each of INSERT_CHARS
 * of SQL at most. The rows are encoded by the columns' own drizzle encoders
 * and escaped by mysql2; the SQL is written here rather than by drizzle's
 * query builder, which takes longer to build 100,000 rows than MariaDB takes
 * to store them.
 */
export async function insertChunked(conn: PoolConnection, table: Table, rows: readonly object[], maxPacket: number): Promise<void> {
  const columns = Object.entries(getTableColumns(table));
  const head = `INSERT INTO ${mysql.escapeId(getTableName(table))} (${columns.map(([, c]) => mysql.escapeId(c.name)).join(", ")}) VALUES `;
  const budget = Math.min(INSERT_CHARS, maxPacket / 4);
  // The statement the server is storing while the next one is built; awaited before the next is sent.
  let storing: Promise<unknown> = Promise.resolve();
  const send = async (tuples: string[]) => {
    await storing;
    storing = conn.query(head + tuples.join(","));
  };
  let tuples: string[] = [];
  let size = head.length;
  try {
    for (const row of rows as Record<string, unknown>[]) {
      const tuple = `(${columns
        .map(([key, column]) => {
          const value = row[key];
          // As drizzle does: null stays SQL NULL rather than going through a JSON column's encoder as "null".
          return value === undefined || value === null ? "NULL" : mysql.escape(column.mapToDriverValue(value) as SqlValue);
        })
        .join(",")})`;
      if (tuples.length > 0 && size + tuple.length > budget) {
        await send(tuples);
        tuples = [];
        size = head.length;
      }
      tuples.push(tuple);
      size += tuple.length + 1;
    }
  } catch (err) {
    // A value no encoder takes: let the statement in flight end before reporting, so its failure is not left unhandled.
    await storing.catch(() => {});
    throw err;
  }
  if (tuples.length > 0) await send(tuples);
  await storing;
}

/**
 * Pauses before trying a call again (ms). A restarting server refuses
 * connections for a moment after its socket opens; half a second in all
 * covers that without holding a caller long when the server is really down.
 */
const RETRY_DELAYS_MS = [100, 400];

/** The pool of one open MysqlRepo, with the server facts its calls need. */
export class MysqlPool {
  constructor(
    readonly pool: Pool,
    readonly target: MysqlTarget,
    /** The server's max_allowed_packet (bytes), which bounds a multi-row INSERT. */
    readonly maxPacket: number,
  ) {}

  /**
   * Runs `body` on a pooled connection and releases it (keeps it, for the
   * caller to release, when `keep`). When the connection turns out dead or
   * the server cannot be reached, tries again on a new connection, up to
   * RETRY_DELAYS_MS.length more times, if `repeatable` (running `body` twice
   * changes nothing more) or if mysql2 never sent the statement.
   */
  async connect<T>(op: string, repeatable: boolean, body: (conn: PoolConnection) => Promise<T>, keep = false): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      const retry = attempt < RETRY_DELAYS_MS.length;
      let conn: PoolConnection;
      try {
        conn = await this.pool.getConnection();
      } catch (err) {
        if (!isUnreachable(err)) throw openError(this.target, err);
        if (!retry) throw this.lost(op, err, "nothing was sent");
        await Bun.sleep(RETRY_DELAYS_MS[attempt]!);
        continue;
      }
      try {
        const result = await body(conn);
        if (!keep) conn.release();
        return result;
      } catch (err) {
        if (!isConnectionLost(err)) {
          conn.release();
          throw err;
        }
        conn.destroy();
        if (!(retry && (repeatable || neverSent(err)))) throw this.lost(op, err, repeatable ? "it is safe to try again" : "the change may or may not have been stored");
      }
    }
  }

  end(): Promise<void> {
    return this.pool.end();
  }

  /** The error for a call that lost its connection or found no server: what was lost, and what became of the change. */
  lost(op: string, err: unknown, consequence: string): DtError {
    return new DtError("unreachable", `${op} on MySQL ${this.target.display} failed: ${driverError(err).message}; ${consequence}. Check that the server is up; dt reconnects on the next call`, {
      cause: err,
    });
  }
}
