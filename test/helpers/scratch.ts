import { afterEach } from "bun:test";
import { join } from "node:path";
import { type TestCas, startCas } from "./cas.ts";
import { type CliResult, cliEnv, killRunningClis, runCli } from "./cli.ts";
import { TempDirs } from "./temp.ts";

/** A scratch directory with its own CAS server and a HOME for dt that is not the user's. */
export interface Scratch {
  dir: string;
  cas: TestCas;
  env: Record<string, string>;
  /** Runs `dt args...` from source in `cwd` (default: the scratch dir). */
  dt: (args: string[], cwd?: string) => Promise<CliResult>;
}

/**
 * For a test file that runs dt against CAS servers it starts itself:
 * registers an afterEach that kills leftover dt processes, stops the
 * servers pushed onto `servers` and removes the dirs made with `temps`.
 */
export function useCliCleanup(): { temps: TempDirs; servers: TestCas[] } {
  const temps = new TempDirs();
  const servers: TestCas[] = [];
  afterEach(async () => {
    killRunningClis();
    for (const s of servers.splice(0)) await s.stop();
    await temps.cleanup();
  });
  return { temps, servers };
}

/**
 * For a test file that runs dt against a CAS: registers an afterEach that
 * kills leftover dt processes, stops the servers and removes the temp dirs,
 * and returns the function that makes a fresh scratch for one test.
 */
export function useScratch(prefix: string): () => Promise<Scratch> {
  const { temps, servers } = useCliCleanup();
  return async () => {
    const dir = await temps.make(prefix);
    const cas = await startCas(join(dir, "cas"));
    servers.push(cas);
    const env = cliEnv(join(dir, "home"));
    return { dir, cas, env, dt: (args, cwd = dir) => runCli(args, { cwd, env }) };
  };
}
