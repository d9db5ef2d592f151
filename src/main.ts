#!/usr/bin/env bun
import { type CommandDef, runCommand, showUsage } from "citty";
import { normalizeGoFlags } from "./commands/context.ts";
import { EXIT, exitCodeOf } from "./commands/exit-codes.ts";
import { VERSION, buildCommit } from "./version.ts";

type Lazy = () => Promise<CommandDef<any>>;
const load = (module: Promise<{ default: CommandDef<any> }>) => module.then((m) => m.default);

/**
 * Loaded on use: `dt archive` need not load the master, its database driver
 * and its web views before it starts.
 */
const subCommands: Record<string, Lazy> = {
  local: () => load(import("./commands/local.ts")),
  master: () => load(import("./commands/master.ts")),
  slave: () => load(import("./commands/slave.ts")),
  submit: () => load(import("./commands/submit.ts")),
  watch: () => load(import("./commands/watch.ts")),
  fetch: () => load(import("./commands/fetch.ts")),
  cancel: () => load(import("./commands/cancel.ts")),
  status: () => load(import("./commands/status.ts")),
  jobs: () => load(import("./commands/jobs.ts")),
  loop: () => load(import("./commands/loop.ts")),
  archive: () => load(import("./commands/archive.ts")),
  batcharchive: () => load(import("./commands/batcharchive.ts")),
  "isolate-server": () => load(import("./commands/isolate-server.ts")),
  "run-isolated": () => load(import("./commands/run-isolated.ts")),
  "account-digest": () => load(import("./commands/account-digest.ts")),
  slaves: () => load(import("./commands/slaves.ts")),
  "systemd-units": () => load(import("./commands/systemd-units.ts")),
  autoscale: () => load(import("./commands/autoscale.ts")),
};

const main: CommandDef = {
  meta: { name: "dt", description: "dt: distributed test runner. Run `dt <command> --help` for a command's flags." },
  subCommands,
};

/** Runs dt with `argv` (without the executable); returns the exit code. */
export async function runDt(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === "--version" || name === "-v" || name === "version") {
    process.stdout.write(`dt ${VERSION} ${buildCommit()}\n`);
    return 0;
  }
  if (name === undefined || name === "--help" || name === "-h" || name === "help") {
    await showUsage(main);
    return name === undefined ? 2 : 0;
  }
  const lazy = subCommands[name];
  if (!lazy) {
    process.stderr.write(`dt: unknown command "${name}"; commands are ${Object.keys(subCommands).join(", ")}\n`);
    return 2;
  }
  // archive and batcharchive also take luci-go's `-flag=value` spelling, as Kudu's scripts pass it.
  const args = name === "archive" || name === "batcharchive" ? normalizeGoFlags(rest) : rest;
  const beforeDashDash = args.includes("--") ? args.slice(0, args.indexOf("--")) : args;
  const command = await lazy();
  if (beforeDashDash.includes("--help") || beforeDashDash.includes("-h")) {
    await showUsage(command, main);
    return 0;
  }
  try {
    await runCommand(command, { rawArgs: args });
    return typeof process.exitCode === "number" ? process.exitCode : 0;
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    process.stderr.write(`dt ${name}: ${message}\n`);
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
