/** A master and its slaves on this machine, started fresh for one measurement and stopped after it. */
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { MasterApi } from "./api.ts";
import type { Backend } from "./backends.ts";
import { type DtCommand, type Service, processCpuMs, startMaster, startSlaves } from "./procs.ts";

/** Slaves register on their first lease request, within a second of starting; 30 s means something is wrong. */
const REGISTER_TIMEOUT_MS = 30_000;

export interface Cluster {
  api: MasterApi;
  master: Service;
  slaves: Service[];
  /**
   * CPU ms used so far, by name: master, slaves, and the backend's servers
   * (`server:mariadbd`…), which may be serving others at the same time.
   */
  cpuMs(): Map<string, number>;
  stop(): Promise<void>;
}

/** Prefix of the backend servers' names in `Cluster.cpuMs`. */
export const SERVER_PREFIX = "server:";

/**
 * Starts `dt master` on the backend's fresh stores with a fresh data dir
 * under `dir`, then `slaveCount` slaves with `slots` each, and returns once
 * every slave is registered and asking for work.
 */
export async function startCluster(dt: DtCommand, dir: string, slaveCount: number, slots: number, backend: Backend): Promise<Cluster> {
  mkdirSync(dir, { recursive: true });
  const stores = await backend.forMaster();
  let master;
  try {
    master = await startMaster(dt, join(dir, "master"), stores.extras);
  } catch (err) {
    await stores.release();
    throw err;
  }
  const slaves = startSlaves(dt, master.url, join(dir, "slaves"), slaveCount, slots);
  const api = new MasterApi(master.url);
  const stop = async () => {
    // Slaves first: a slave whose master vanished would retry its calls until killed.
    await Promise.all(slaves.map((s) => s.stop()));
    await master.service.stop();
    await stores.release();
  };
  try {
    if (slaveCount > 0) await api.waitSlavesIdle(slaveCount, REGISTER_TIMEOUT_MS);
  } catch (err) {
    await stop();
    throw new Error(`${(err as Error).message}\n${[master.service, ...slaves].map((s) => `${s.name}:\n${s.log}`).join("\n")}`);
  }
  const servers = backend.serverPids();
  return {
    api,
    master: master.service,
    slaves,
    cpuMs: () =>
      new Map([
        ...[master.service, ...slaves].map((s) => [s.name, s.cpuMs()] as const),
        ...[...servers].flatMap(([name, pid]) => {
          // A server restarted by someone else (a shared one) is left out rather than failing the measurement.
          try {
            return [[`${SERVER_PREFIX}${name}`, processCpuMs(pid)] as const];
          } catch {
            return [];
          }
        }),
      ]),
    stop,
  };
}
