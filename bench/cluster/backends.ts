/**
 * Where a benchmarked master keeps its state. `embedded`: dt's defaults, an
 * SQLite file, the in-process queue (slaves long-poll the master) and the
 * CAS and artifacts as files, all under the master's fresh data dir.
 * `scaled`: MariaDB, beanstalkd and S3 (s3rver) together. `mysql`,
 * `beanstalkd`, `s3` and their combinations (`mysql+beanstalkd`) swap in
 * only those, beside embedded defaults for the rest, to tell which one a
 * difference (or a failure) comes from. Every master gets a database, tube
 * prefix and bucket of its own, so it starts as empty as an embedded
 * master's fresh data dir; they are removed when that master stops. Slaves
 * get no flags: they ask the master where work comes from.
 */
import { CreateBucketCommand, DeleteBucketCommand, DeleteObjectsCommand, ListObjectsV2Command, S3Client } from "@aws-sdk/client-s3";
import type { MasterExtras } from "./procs.ts";
import { type Servers, dropDatabase, listenerPid } from "./services.ts";

/** The stores a backend can take from outside; the others stay embedded. */
const COMPONENTS = ["mysql", "beanstalkd", "s3"] as const;
type Component = (typeof COMPONENTS)[number];
type Uses = Record<Component, boolean>;

/** `embedded`, `scaled` (all three outside), or components joined by `+`, e.g. `mysql+beanstalkd`. */
export type BackendName = string;
/** What `--backends` means when not given. */
export const DEFAULT_BACKENDS: readonly BackendName[] = ["embedded", "scaled"];

/** Which stores `name` takes from outside; undefined when it names no backend. */
export function componentsOf(name: BackendName): Uses | undefined {
  if (name === "embedded") return { mysql: false, beanstalkd: false, s3: false };
  if (name === "scaled") return { mysql: true, beanstalkd: true, s3: true };
  const parts = name.split("+");
  if (!parts.every((p) => (COMPONENTS as readonly string[]).includes(p))) return undefined;
  return { mysql: parts.includes("mysql"), beanstalkd: parts.includes("beanstalkd"), s3: parts.includes("s3") };
}

/** One master's stores: what to start it with, and how to remove them after it stopped. */
export interface MasterStores {
  extras: MasterExtras;
  release(): Promise<void>;
}

export interface Backend {
  name: BackendName;
  /** Fresh stores for the next master. */
  forMaster(): Promise<MasterStores>;
  /** Servers outside dt whose CPU a measurement counts too (pid by name); they may serve others at the same time. */
  serverPids(): Map<string, number>;
  /** Removes whatever a master did not release (the bench failed or was interrupted); safe to call twice. */
  close(): Promise<void>;
}

export function embeddedBackend(): Backend {
  return {
    name: "embedded",
    forMaster: async () => ({ extras: { args: [], env: {} }, release: async () => {} }),
    serverPids: () => new Map(),
    close: async () => {},
  };
}

/** s3rver's only account; the region is any the SDK accepts. */
const S3RVER_ENV = { AWS_ACCESS_KEY_ID: "S3RVER", AWS_SECRET_ACCESS_KEY: "S3RVER", AWS_REGION: "us-east-1" } as const;

/** A backend with some stores outside (see componentsOf). */
export function externalBackend(name: BackendName, servers: Servers): Backend {
  const uses = componentsOf(name);
  if (!uses) throw new Error(`no backend ${name}`);
  const s3 = new S3Client({
    endpoint: servers.s3Endpoint,
    region: S3RVER_ENV.AWS_REGION,
    forcePathStyle: true,
    credentials: { accessKeyId: S3RVER_ENV.AWS_ACCESS_KEY_ID, secretAccessKey: S3RVER_ENV.AWS_SECRET_ACCESS_KEY },
  });
  // One token per bench invocation, a counter per master: names never collide with another bench or test.
  const token = crypto.randomUUID().replaceAll("-", "").slice(0, 10);
  let masters = 0;
  const unreleased = new Map<number, () => Promise<void>>();

  const removeBucket = async (bucket: string) => {
    try {
      let token: string | undefined;
      do {
        const page = await s3.send(new ListObjectsV2Command({ Bucket: bucket, ContinuationToken: token }));
        const keys = (page.Contents ?? []).map((o) => ({ Key: o.Key! }));
        if (keys.length > 0) await s3.send(new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: keys, Quiet: true } }));
        token = page.IsTruncated ? page.NextContinuationToken : undefined;
      } while (token);
      await s3.send(new DeleteBucketCommand({ Bucket: bucket }));
    } catch (err) {
      console.error(`bench: could not remove bucket ${bucket} at ${servers.s3Endpoint}: ${(err as Error).message}`);
    }
  };

  return {
    name,
    async forMaster() {
      const n = ++masters;
      const database = `dt_bench_${token}_${n}`;
      const bucket = `dt-bench-${token}-${n}`;
      // dt checks at start-up that its bucket exists, and does not create it (a typo should fail, not make a bucket).
      if (uses.s3) await s3.send(new CreateBucketCommand({ Bucket: bucket }));
      let released = false;
      const release = async () => {
        if (released) return;
        released = true;
        unreleased.delete(n);
        // The database is created by the master itself (CREATE DATABASE IF NOT EXISTS) on start.
        await Promise.all([uses.mysql && dropDatabase(servers.mysql, database), uses.s3 && removeBucket(bucket)]);
      };
      unreleased.set(n, release);
      const args = [
        ...(uses.mysql ? ["--db", `${servers.mysql}/${database}`] : []),
        ...(uses.beanstalkd ? ["--queue", `beanstalk://${servers.beanstalkd}`, "--queue-tube-prefix", `bench-${token}-${n}`] : []),
        ...(uses.s3 ? ["--artifacts", `s3://${bucket}/artifacts`, "--cas-store", `s3://${bucket}/cas`, "--s3-endpoint", servers.s3Endpoint] : []),
      ];
      return { extras: { args, env: uses.s3 ? { ...S3RVER_ENV } : {} }, release };
    },
    serverPids() {
      const pids = new Map<string, number>();
      const ports = [
        uses.mysql && ["mariadbd", new URL(servers.mysql).port || "3306"],
        uses.beanstalkd && ["beanstalkd", servers.beanstalkd.split(":").at(-1)!],
        uses.s3 && ["s3rver", new URL(servers.s3Endpoint).port || "80"],
      ].filter((p): p is [string, string] => p !== false);
      for (const [name, port] of ports) {
        const pid = listenerPid(Number(port));
        if (pid !== undefined) pids.set(name, pid);
      }
      return pids;
    },
    async close() {
      await Promise.all([...unreleased.values()].map((release) => release()));
      s3.destroy();
    },
  };
}
