import { closeSync, openSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { Logger } from "../common/log.ts";

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
export function startSlaves(options: { count: number; slots: number; masterUrl: string; cacheDir: string; logDir: string; env: Record<string, string | undefined>; log: Logger }) {
  let stopping = false;
  const children = Array.from({ length: options.count }, (_, i) => {
    const logPath = join(options.logDir, `slave-${i}.log`);
    const logFile = openSync(logPath, "a");
    const child = Bun.spawn(
      [...dtCommand(), "slave", "--master", options.masterUrl, "--slots", String(options.slots), "--cache-dir", options.cacheDir, "--name", `local-${i}`, "--drain-timeout", "10s"],
      { stdin: "ignore", stdout: logFile, stderr: logFile, env: options.env },
    );
    closeSync(logFile);
    // Said on the terminal, not only in the slave's log: a slave that refused to start (one of the same name left
    // running by an earlier dt local on this --data-dir) leaves the job waiting for slots that never come.
    void child.exited.then((code) => {
      if (stopping) return;
      const how = child.signalCode ? `killed by ${child.signalCode}` : `exit ${code}`;
      options.log.error(`slave local-${i} ended (${how}) while dt local runs: ${lastLine(logPath)}; its log: ${logPath}`, { slave: `local-${i}` });
    });
    return child;
  });
  return {
    pids: children.map((c) => c.pid),
    async stop(): Promise<void> {
      stopping = true;
      for (const c of children) c.kill("SIGTERM");
      await Promise.all(children.map((c) => c.exited));
    },
  };
}

/** The last line a slave wrote to its log: its reason, when it exits at once. */
function lastLine(path: string): string {
  try {
    return readFileSync(path, "utf8").trimEnd().split("\n").at(-1) || "(its log is empty)";
  } catch {
    return "(its log cannot be read)";
  }
}
