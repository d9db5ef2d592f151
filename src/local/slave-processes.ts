import { openSync } from "node:fs";
import { join } from "node:path";

/**
 * The command that runs this same dt: the compiled binary itself, or bun
 * with the entry script when running from source.
 */
export function dtCommand(): string[] {
  const compiled = import.meta.url.startsWith("file:///$bunfs/");
  return compiled ? [process.execPath] : [process.execPath, Bun.main];
}

/**
 * Starts `count` slave processes against `masterUrl`, each logging to
 * `<logDir>/slave-<i>.log`, sharing one blob cache. Returns a stop function
 * that drains them (SIGTERM) and waits for their exit.
 */
export function startSlaves(options: { count: number; slots: number; masterUrl: string; cacheDir: string; logDir: string; env: Record<string, string | undefined> }) {
  const children = Array.from({ length: options.count }, (_, i) => {
    const logFile = openSync(join(options.logDir, `slave-${i}.log`), "a");
    return Bun.spawn(
      [...dtCommand(), "slave", "--master", options.masterUrl, "--slots", String(options.slots), "--cache-dir", options.cacheDir, "--name", `local-${i}`, "--drain-timeout", "10s"],
      { stdin: "ignore", stdout: logFile, stderr: logFile, env: options.env },
    );
  });
  return {
    pids: children.map((c) => c.pid),
    async stop(): Promise<void> {
      for (const c of children) c.kill("SIGTERM");
      await Promise.all(children.map((c) => c.exited));
    },
  };
}
