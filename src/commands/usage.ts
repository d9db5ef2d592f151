import { type CommandDef, renderUsage } from "citty";
import type { ArgvPolicy } from "./argv.ts";

/** citty colours usage unless NO_COLOR=1, TERM=dumb, CI or TEST; dt also leaves it plain when the output is not a terminal. */
export function wantsColour(stream: { isTTY?: boolean }, env: Record<string, string | undefined>): boolean {
  // no-color.org: any non-empty NO_COLOR turns colour off.
  return stream.isTTY === true && !env.NO_COLOR && env.TERM !== "dumb";
}

/** Text without terminal escape sequences (colours, bold, underline). */
export function withoutAnsi(text: string): string {
  return text.replace(/\x1b\[[0-9;]*[A-Za-z]/g, "");
}

/**
 * A command's help as citty renders it, plain unless `colour`. citty writes a
 * flag's default as "(Default: x)"; dt's descriptions say "(default …)" only
 * for defaults citty does not know (computed ones), so each is written once,
 * and in one case.
 */
export async function usageText(cmd: CommandDef<any>, commandPath: string, policy: ArgvPolicy, colour: boolean): Promise<string> {
  const words = commandPath.split(" ");
  const parent: CommandDef<any> | undefined = words.length > 1 ? { meta: { name: words.slice(0, -1).join(" ") } } : undefined;
  let text = (await renderUsage(cmd, parent)).replaceAll("(Default: ", "(default: ");
  if (policy.afterDashDash) text = `${text.trimEnd()}\n\nAfter --: ${policy.afterDashDash}`;
  if (!colour) text = withoutAnsi(text);
  // citty pads every column, the last one too: no trailing blanks in a terminal or a diff.
  return `${text.split("\n").map((line) => line.trimEnd()).join("\n")}\n`;
}
