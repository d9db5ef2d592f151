/**
 * dt as src/main.ts runs it, with `autoscale` added, until src/main.ts
 * registers the command: `run-autoscale.ts autoscale ARGS` runs it with
 * runDt's error-to-exit-code mapping, anything else is runDt's (so the
 * local slaves it starts, as `<this script> slave …`, are real dt slaves).
 */
import { runCommand } from "citty";
import autoscale from "../../src/commands/autoscale.ts";
import { EXIT, exitCodeOf } from "../../src/commands/exit-codes.ts";
import { runDt } from "../../src/main.ts";

const [name, ...rest] = process.argv.slice(2);
if (name === "autoscale") {
  try {
    await runCommand(autoscale, { rawArgs: rest });
  } catch (err) {
    process.stderr.write(`dt autoscale: ${(err as Error).message}\n`);
    process.exitCode = (err as Error).name === "CLIError" ? EXIT.invalidInput : exitCodeOf(err);
  }
} else {
  process.exitCode = await runDt(process.argv.slice(2));
}
