/** A master and its slaves on this machine, started fresh for one measurement and stopped after it. */
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { MasterApi } from "./api.ts";
import { type Service, startMaster, startSlaves } from "./procs.ts";

/** Slaves register on their first lease request, within a second of starting; 30 s means something is wrong. */
const REGISTER_TIMEOUT_MS = 30_000;

export interface Cluster {
  api: MasterApi;
  master: Service;
  slaves: Service[];
  /** Master and slaves together: CPU ms used so far by each, by name. */
  cpuMs(): Map<string, number>;
  stop(): Promise<void>;
}

/**
 * Starts `dt master` with a fresh data dir under `dir`, then `slaveCount`
 * slaves with `slots` each, and returns once every slave is registered and
 * long-polling for work.
 */
export async function startCluster(dt: string, dir: string, slaveCount: number, slots: number): Promise<Cluster> {
  mkdirSync(dir, { recursive: true });
  const master = await startMaster(dt, join(dir, "master"));
  const slaves = startSlaves(dt, master.url, join(dir, "slaves"), slaveCount, slots);
  const api = new MasterApi(master.url);
  const stop = async () => {
    // Slaves first: a slave whose master vanished would retry its calls until killed.
    await Promise.all(slaves.map((s) => s.stop()));
    await master.service.stop();
  };
  try {
    if (slaveCount > 0) await api.waitSlavesIdle(slaveCount, REGISTER_TIMEOUT_MS);
  } catch (err) {
    await stop();
    throw new Error(`${(err as Error).message}\n${slaves.map((s) => `${s.name}:\n${s.log}`).join("\n")}`);
  }
  return {
    api,
    master: master.service,
    slaves,
    cpuMs: () => new Map([master.service, ...slaves].map((s) => [s.name, s.cpuMs()])),
    stop,
  };
}
