/**
 * The two backends every chaos scenario runs on. `embedded`: dt master's
 * defaults (SQLite, the in-process queue, CAS and artifacts as files).
 * `mysql`: a private MariaDB (its own datadir and port, never the machine's
 * server), a private beanstalkd with a binlog and a private s3rver, started
 * once per bench so the outage scenarios can kill and restart them without
 * touching anyone else's. Each master on them gets a fresh database, tube
 * prefix and bucket through bench/cluster/backends.ts, as in the cluster
 * bench.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PrivateMariadb } from "../../test/e2e/private-mariadb.ts";
import { type PrivateBeanstalkd, beanstalkdMissing, startBeanstalkd } from "../../test/helpers/beanstalkd.ts";
import { PrivateS3 } from "../../test/helpers/s3.ts";
import { type Backend, embeddedBackend, externalBackend } from "../cluster/backends.ts";

export const BACKEND_NAMES = ["embedded", "mysql"] as const;
export type ChaosBackendName = (typeof BACKEND_NAMES)[number];

/** As scripts/services/beanstalkd.sh: dt puts task descriptions, not archives. */
const BEANSTALKD_MAX_JOB_BYTES = 8 * 1024 * 1024;

/** A server outside dt that a scenario can crash and bring back. */
export interface Outage {
  /** SIGKILL: the server vanishes mid-conversation, as on a crash. */
  kill(): Promise<void>;
  /** Starts it again on the same port and data; resolves once it answers. */
  restart(): Promise<void>;
}

export type OutageName = "beanstalkd" | "mysql" | "s3";

export interface ChaosBackend {
  name: ChaosBackendName;
  /** Fresh stores per master, as bench/cluster.ts gives them. */
  stores: Backend;
  /** The servers a scenario may kill; empty on embedded, which has none outside the master. */
  outages: Map<OutageName, Outage>;
  /** Drops the databases and buckets left, then stops the servers; never throws. */
  close(): Promise<void>;
}

export function embeddedChaosBackend(): ChaosBackend {
  return { name: "embedded", stores: embeddedBackend(), outages: new Map(), close: async () => {} };
}

/** Starts the three private servers; on a failure, stops what had started and throws naming the server. */
export async function mysqlChaosBackend(): Promise<ChaosBackend> {
  const missing = beanstalkdMissing();
  if (missing) throw new Error(`the mysql backend needs beanstalkd: ${missing}`);
  const binlog = mkdtempSync(join(tmpdir(), "dt-chaos-binlog-"));
  let mariadb: PrivateMariadb | undefined;
  let beanstalkd: PrivateBeanstalkd | null = null;
  let s3: PrivateS3 | undefined;
  const stopServers = async () => {
    await Promise.all([mariadb?.destroy(), beanstalkd?.destroy(), s3?.destroy()]);
    rmSync(binlog, { recursive: true, force: true });
  };
  try {
    mariadb = await PrivateMariadb.start("dt-chaos-mariadb-");
    beanstalkd = await startBeanstalkd({ binlogDir: binlog, maxJobBytes: BEANSTALKD_MAX_JOB_BYTES });
    s3 = await PrivateS3.start();
  } catch (err) {
    await stopServers();
    throw err;
  }
  const db = mariadb;
  const queue = beanstalkd!;
  const objects = s3;
  const stores = externalBackend("scaled", {
    mysql: `mysql://root@127.0.0.1:${db.port}`,
    beanstalkd: `${queue.address.host}:${queue.address.port}`,
    s3Endpoint: objects.endpoint,
    stop: async () => {},
  });
  return {
    name: "mysql",
    stores,
    outages: new Map<OutageName, Outage>([
      ["beanstalkd", { kill: () => queue.stop(), restart: () => queue.restart() }],
      ["mysql", { kill: () => db.kill(), restart: () => db.restart() }],
      ["s3", { kill: () => objects.stop(), restart: () => objects.restart() }],
    ]),
    async close() {
      // Databases and buckets before the servers they live on; a server a scenario left down is started for that first.
      if (!db.running) await db.restart().catch(() => {});
      await stores.close().catch(() => {});
      await stopServers();
    },
  };
}
