import { homedir } from "node:os";
import { join } from "node:path";
import { type Clock, systemClock } from "../common/clock.ts";
import { Config } from "../common/config.ts";
import { DtError } from "../common/errors.ts";
import { type Logger, createLogger } from "../common/log.ts";

/** Flags every subcommand takes. */
export const logArgs = {
  "log-level": { type: "string", description: "silent, error, warn, info, debug or trace", default: "info" },
  "log-format": { type: "string", description: "text for people, json (one object per line) for services", default: "text" },
} as const;

/** What a command needs from its surroundings, made once per run. */
export interface CommandContext {
  config: Config;
  log: Logger;
  clock: Clock;
  env: Record<string, string | undefined>;
}

export function commandContext(args: { "log-level"?: string; "log-format"?: string }, env = process.env): CommandContext {
  return {
    config: Config.load(env),
    log: createLogger({ level: args["log-level"], format: args["log-format"] }),
    clock: systemClock,
    env,
  };
}

/** The arguments before a bare `--`, and those after it. */
export function splitAtDashDash(rawArgs: readonly string[]): { flags: string[]; rest: string[] } {
  const i = rawArgs.indexOf("--");
  return i < 0 ? { flags: [...rawArgs], rest: [] } : { flags: rawArgs.slice(0, i), rest: rawArgs.slice(i + 1) };
}

/**
 * Every value of a repeatable flag (`--env A=1 --env B=2`, or `--env=A=1`),
 * which citty collapses to the last one. Only looks before `--`.
 */
export function repeatedFlag(rawArgs: readonly string[], names: readonly string[]): string[] {
  const { flags } = splitAtDashDash(rawArgs);
  const values: string[] = [];
  for (let i = 0; i < flags.length; i++) {
    const arg = flags[i]!;
    const name = names.find((n) => arg === n || arg.startsWith(`${n}=`));
    if (!name) continue;
    if (arg === name) {
      const value = flags[i + 1];
      if (value === undefined) throw new DtError("invalid_input", `${name} needs a value`);
      values.push(value);
      i++;
    } else {
      values.push(arg.slice(name.length + 1));
    }
  }
  return values;
}

/** Parses `K=V` pairs; `what` names the flag in errors. */
export function keyValues(pairs: readonly string[], what: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const pair of pairs) {
    const eq = pair.indexOf("=");
    if (eq <= 0) throw new DtError("invalid_input", `${what}: expected KEY=VALUE, got ${JSON.stringify(pair)}`);
    out[pair.slice(0, eq)] = pair.slice(eq + 1);
  }
  return out;
}

/** `$XDG_DATA_HOME/dt/<name>`, where services keep state by default. */
export function defaultDataDir(env: Record<string, string | undefined>, name: string): string {
  return join(env.XDG_DATA_HOME || join(env.HOME || homedir(), ".local", "share"), "dt", name);
}

/** `$XDG_CACHE_HOME/dt/<name>`. */
export function defaultCacheDir(env: Record<string, string | undefined>, name: string): string {
  return join(env.XDG_CACHE_HOME || join(env.HOME || homedir(), ".cache"), "dt", name);
}

/**
 * luci-go's flags are Go-style: `-isolate-server=URL`. A single dash before
 * a multi-letter name is read as the double-dash long flag.
 */
export function normalizeGoFlags(args: readonly string[]): string[] {
  const { flags, rest } = splitAtDashDash(args);
  const normalized = flags.map((a) => (/^-[a-z][a-z0-9-]+(=|$)/i.test(a) ? `-${a}` : a));
  return args.includes("--") ? [...normalized, "--", ...rest] : normalized;
}
