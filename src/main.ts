#!/usr/bin/env bun
import { type CommandDef, runCommand, showUsage } from "citty";
import archive from "./commands/archive.ts";
import batcharchive, { normalizeGoFlags } from "./commands/batcharchive.ts";
import { EXIT, exitCodeOf } from "./commands/exit-codes.ts";
import isolateServer from "./commands/isolate-server.ts";
import runIsolated from "./commands/run-isolated.ts";
import { VERSION, buildCommit } from "./version.ts";

const subCommands: Record<string, CommandDef<any>> = {
  archive,
  batcharchive,
  "isolate-server": isolateServer,
  "run-isolated": runIsolated,
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
  const command = subCommands[name];
  if (!command) {
    process.stderr.write(`dt: unknown command "${name}"; commands are ${Object.keys(subCommands).join(", ")}\n`);
    return 2;
  }
  // archive and batcharchive also take luci-go's `-flag=value` spelling, as Kudu's scripts pass it.
  const args = name === "archive" || name === "batcharchive" ? normalizeGoFlags(rest) : rest;
  const beforeDashDash = args.includes("--") ? args.slice(0, args.indexOf("--")) : args;
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
