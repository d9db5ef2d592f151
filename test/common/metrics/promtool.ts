/**
 * `promtool check metrics`, the Prometheus project's own parser and linter
 * of the text format, for tests of /metrics output. Installed in CI by
 * scripts/services/promtool.sh; a test without it skips, saying why.
 */
import { expect } from "bun:test";

export const PROMTOOL = Bun.which("promtool");

/** Why promtool tests skip here, or undefined when they can run; printed once per file. */
export function promtoolMissing(file: string): string | undefined {
  if (PROMTOOL) return undefined;
  const why = "promtool is not on the PATH; install it with bash scripts/services/promtool.sh";
  console.warn(`SKIP ${file} (promtool checks): ${why}`);
  return why;
}

/** Runs `promtool check metrics` on `text`; expects it to find no error and no lint problem. */
export async function expectPromtoolAccepts(text: string): Promise<void> {
  const proc = Bun.spawn([PROMTOOL!, "check", "metrics"], { stdin: new TextEncoder().encode(text), stdout: "pipe", stderr: "pipe" });
  const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  expect({ code, problems: `${out}${err}`.trim() }).toEqual({ code: 0, problems: "" });
}
