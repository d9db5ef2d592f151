#!/usr/bin/env bun
import type { CommandDef } from "citty";
import { runCommand } from "citty";
import { type ArgvPolicy, UsageError, checkCommandArgv } from "./commands/argv.ts";
import { EXIT, exitCodeOf } from "./commands/exit-codes.ts";
import { usageText, wantsColour, withoutAnsi } from "./commands/usage.ts";
import { normalizeGoFlags } from "./commands/context.ts";
import { closestMatch } from "./common/suggest.ts";
import { VERSION, buildCommit } from "./version.ts";

/** A subcommand as main runs it: its citty definition and what it takes beyond its declared flags. */
export interface LoadedCommand {
  command: CommandDef<any>;
  policy: ArgvPolicy;
}

type Lazy = () => Promise<LoadedCommand>;
const load = (module: Promise<{ default: CommandDef<any>; argvPolicy?: ArgvPolicy }>) => module.then((m) => ({ command: m.default, policy: m.argvPolicy ?? {} }));

/**
 * Loaded on use: `dt archive` need not load the master, its database driver
 * and its web views before it starts.
 */
export const subCommands: Record<string, Lazy> = {
  local: () => load(import("./commands/local.ts")),
  master: () => load(import("./commands/master.ts")),
  slave: () => load(import("./commands/slave.ts")),
  submit: () => load(import("./commands/submit.ts")),
  watch: () => load(import("./commands/watch.ts")),
  fetch: () => load(import("./commands/fetch.ts")),
  cancel: () => load(import("./commands/cancel.ts")),
  status: () => load(import("./commands/status.ts")),
  jobs: () => load(import("./commands/jobs.ts")),
  flaky: () => load(import("./commands/flaky.ts")),
  loop: () => load(import("./commands/loop.ts")),
  archive: () => load(import("./commands/archive.ts")),
  batcharchive: () => load(import("./commands/batcharchive.ts")),
  "isolate-server": () => load(import("./commands/isolate-server.ts")),
  "run-isolated": () => load(import("./commands/run-isolated.ts")),
  "account-digest": () => load(import("./commands/account-digest.ts")),
  slaves: () => load(import("./commands/slaves.ts")),
  quarantine: () => load(import("./commands/quarantine.ts")),
  "systemd-units": () => load(import("./commands/systemd-units.ts")),
  autoscale: () => load(import("./commands/autoscale.ts")),
};

const main: CommandDef = {
  meta: { name: "dt", description: "dt: distributed test runner. Run `dt <command> --help` for a command's flags." },
  subCommands: Object.fromEntries(Object.entries(subCommands).map(([name, lazy]) => [name, () => lazy().then((l) => l.command)])),
};

/** `--help` or `-h` before any `--`. */
function wantsHelp(args: readonly string[]): boolean {
  const end = args.indexOf("--");
  return (end < 0 ? args : args.slice(0, end)).some((a) => a === "--help" || a === "-h");
}

/** The command whose help `dt slaves drain --help` asks for: the deepest subcommand named. */
async function helpTarget(command: CommandDef<any>, args: readonly string[], path: string): Promise<{ command: CommandDef<any>; path: string }> {
  const subs = typeof command.subCommands === "function" ? await command.subCommands() : await command.subCommands;
  const end = args.indexOf("--");
  // The first word that names a subcommand: `dt slaves --master URL drain --help` is drain's help, not a subcommand URL's.
  const name = subs ? (end < 0 ? args : args.slice(0, end)).find((a) => Object.hasOwn(subs, a)) : undefined;
  const sub = subs && name !== undefined ? subs[name] : undefined;
  if (!sub || name === undefined) return { command, path };
  const resolved = typeof sub === "function" ? await sub() : await sub;
  return helpTarget(resolved, args.slice(args.indexOf(name) + 1), `${path} ${name}`);
}

/** Runs dt with `argv` (without the executable); returns the exit code. */
export async function runDt(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  const colour = wantsColour(process.stdout, process.env);
  if (name === "--version" || name === "-v" || name === "version") {
    process.stdout.write(`dt ${VERSION} ${buildCommit()}\n`);
    return 0;
  }
  if (name === undefined || name === "--help" || name === "-h" || name === "help") {
    process.stdout.write(await usageText(main, "dt", {}, colour));
    return name === undefined ? EXIT.invalidInput : 0;
  }
  const lazy = subCommands[name];
  if (!lazy) {
    const guess = closestMatch(name, Object.keys(subCommands));
    process.stderr.write(`dt: unknown command "${name}"${guess ? `; did you mean ${guess}?` : ""} (commands: ${Object.keys(subCommands).join(", ")})\n`);
    return EXIT.invalidInput;
  }
  const { command, policy } = await lazy();
  // luci-go's `-help` too, for the commands that take its Go-style flags.
  if (wantsHelp(policy.goFlags ? normalizeGoFlags(rest) : rest)) {
    const target = await helpTarget(command, rest, `dt ${name}`);
    process.stdout.write(await usageText(target.command, target.path, target.command === command ? policy : {}, colour));
    return 0;
  }
  try {
    // Checked in full before the command runs: a mistyped flag does no work (no server contacted, nothing written).
    const args = await checkCommandArgv(command, rest, policy, `dt ${name}`);
    await runCommand(command, { rawArgs: args });
    return typeof process.exitCode === "number" ? process.exitCode : 0;
  } catch (err) {
    // Errors are plain text: citty's colour some of their words.
    const message = withoutAnsi(err instanceof Error ? err.message : String(err));
    process.stderr.write(err instanceof UsageError ? `${message}\n` : `dt ${name}: ${message}\n`);
    // citty's own errors are about the command line: a missing or unknown flag.
    if ((err as Error).name === "CLIError") return EXIT.invalidInput;
    const code = exitCodeOf(err);
    if (code === EXIT.internal) process.stderr.write(`${(err as Error).stack ?? ""}\n`);
    return code;
  }
}

if (import.meta.main) {
  process.exitCode = await runDt(process.argv.slice(2));
}
