/**
 * docs/commands.md's exit-code table is what scripts read to handle dt's
 * exits: it must list every code dt has, and in the order of their numbers.
 */
import { expect, test } from "bun:test";
import { join } from "node:path";
import { EXIT } from "../../src/commands/exit-codes.ts";
import { EXIT_WATCH_INTERRUPTED } from "../../src/commands/watch.ts";

const page = join(import.meta.dir, "..", "..", "docs", "commands.md");

/** The codes in the first column of the table under `## Exit codes`, top to bottom. */
async function documentedCodes(): Promise<number[]> {
  const text = await Bun.file(page).text();
  const section = text.slice(text.indexOf("## Exit codes"));
  const end = section.indexOf("\n## ", 1);
  return [...(end === -1 ? section : section.slice(0, end)).matchAll(/^\| (\d+) \|/gm)].map((m) => Number(m[1]));
}

test("the exit-code table lists every code in src/commands/exit-codes.ts, in numeric order, each once", async () => {
  const documented = await documentedCodes();
  const actual = [...new Set([...Object.values(EXIT), EXIT_WATCH_INTERRUPTED])].sort((a, b) => a - b);
  expect(documented).toEqual(actual);
});
