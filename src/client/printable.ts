/** C0 and C1 control characters and DEL: what a terminal may act on rather than show. */
const CONTROLS = /[\u0000-\u001f\u007f-\u009f]/g;

/**
 * Text from others (an attempt's message from a slave, an operator's hold
 * reason, a task's description) made safe to print on one line of a
 * terminal or CI log: a newline or tab becomes a space, any other control
 * character its escape (`\x1b`), so an escape sequence in a message cannot
 * retitle, recolour or rewrite the reader's terminal.
 *
 * @example
 *   printable("boom\x1b[2J\nnext") // "boom\\x1b[2J next"
 */
export function printable(text: string): string {
  return text.replace(CONTROLS, (c) => (c === "\n" || c === "\t" || c === "\r" ? " " : `\\x${c.charCodeAt(0).toString(16).padStart(2, "0")}`));
}
