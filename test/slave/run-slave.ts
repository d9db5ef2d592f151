/**
 * `dt slave` as its own process, for the tests that signal it: the command
 * is not registered in src/main.ts yet, so this runs it through citty as
 * main.ts would. Arguments are the command's flags.
 */
import { runCommand } from "citty";
import slave from "../../src/commands/slave.ts";
import { exitCodeOf } from "../../src/commands/exit-codes.ts";

try {
  await runCommand(slave, { rawArgs: process.argv.slice(2) });
} catch (err) {
  process.stderr.write(`dt slave: ${(err as Error).message}\n`);
  process.exitCode = exitCodeOf(err);
}
