/**
 * `dt autoscale ARGS` as a process, until src/main.ts registers the
 * command: the same run and the same error-to-exit-code mapping as runDt.
 */
import { runCommand } from "citty";
import autoscale from "../../src/commands/autoscale.ts";
import { EXIT, exitCodeOf } from "../../src/commands/exit-codes.ts";

try {
  await runCommand(autoscale, { rawArgs: process.argv.slice(2) });
} catch (err) {
  process.stderr.write(`dt autoscale: ${(err as Error).message}\n`);
  process.exitCode = (err as Error).name === "CLIError" ? EXIT.invalidInput : exitCodeOf(err);
}
