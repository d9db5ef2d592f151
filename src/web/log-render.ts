/**
 * A log's text as HTML, one string per line, colours and all. A log is
 * hostile input: ansi_up escapes every character of the text it outputs
 * (& < > " '), and only SGR sequences (colours, bold, …) ever reach it,
 * complete: ansi_up keeps an unfinished sequence for its next call, so an
 * unterminated OSC (`ESC ]` with no end) would otherwise swallow the rest
 * of the log, and its OSC 8 hyperlinks would put a log's URLs in hrefs.
 */
import { AnsiUp } from "ansi_up";

/** SGR: `ESC [ params m`. Longer parameter lists than any terminal sends are not colours; they are shown as text. */
const SGR = /\x1b\[[0-9;:]{0,64}m/y;
/** Other control sequences: CSI (cursor moves, erases), OSC (titles, hyperlinks) ended by BEL or ST, character set designations (ESC ( B; not every nF escape, lest a lone ESC before " here" eat its " h"), and two-byte escapes (not ESC [ or ESC ], which start the others). */
const OTHER_ESCAPE = /\x1b(?:\[[0-?]{0,64}[ -/]{0,8}[@-~]|\][^\x07\x1b\n]{0,4096}(?:\x07|\x1b\\)|[()*+\-./][0-~]|[@-Z\\^_])/y;
/** Shown in place of what the browser could not show: a lone ESC, and NUL, which HTML turns into U+FFFD. */
const VISIBLE_ESC = "␛";
const VISIBLE_NUL = "␀";

/**
 * `line` with only complete SGR sequences left: other escape sequences are
 * dropped (a browser cannot move a cursor), a lone or unfinished ESC is
 * shown as ␛, and NUL as ␀.
 */
export function sanitizeAnsi(line: string): string {
  if (!line.includes("\x1b") && !line.includes("\0")) return line;
  let out = "";
  let at = 0;
  while (at < line.length) {
    const next = line.indexOf("\x1b", at);
    const text = line.slice(at, next === -1 ? line.length : next);
    out += text.replaceAll("\0", VISIBLE_NUL);
    if (next === -1) break;
    SGR.lastIndex = next;
    const sgr = SGR.exec(line);
    if (sgr) {
      out += sgr[0];
      at = SGR.lastIndex;
      continue;
    }
    OTHER_ESCAPE.lastIndex = next;
    if (OTHER_ESCAPE.exec(line)) {
      at = OTHER_ESCAPE.lastIndex;
      continue;
    }
    out += VISIBLE_ESC;
    at = next + 1;
  }
  return out;
}

/** One line of a log: its HTML and how many bytes of the log it spans (its newline included). */
export interface RenderedLine {
  html: string;
  bytes: number;
}

const NEWLINE = 10;

/**
 * Each line of `bytes` as HTML (split at \n; a final \n ends the last line,
 * it does not start an empty one), each decoded on its own so that invalid
 * UTF-8 costs only its own characters (U+FFFD) and byte offsets stay exact.
 * Colours carry over from line to line as in a terminal; each line's HTML
 * closes its own spans. Colours are classes (ansi-red-fg,
 * ansi-bright-blue-bg…) for the 16 colours, inline `style` for bold,
 * 256-colour and true colour.
 */
export function renderLogLines(bytes: Uint8Array): RenderedLine[] {
  const ansi = new AnsiUp();
  ansi.use_classes = true;
  ansi.url_allowlist = {};
  const decoder = new TextDecoder();
  const lines: RenderedLine[] = [];
  let at = 0;
  while (at < bytes.byteLength) {
    const newline = bytes.indexOf(NEWLINE, at);
    const end = newline === -1 ? bytes.byteLength : newline;
    const text = decoder.decode(bytes.subarray(at, end));
    lines.push({ html: ansi.ansi_to_html(sanitizeAnsi(lastOverwrite(text))), bytes: (newline === -1 ? end : end + 1) - at });
    at += lines[lines.length - 1]!.bytes;
  }
  return lines;
}

/**
 * The most lines whose HTML (plus `perLine` characters of markup around
 * each) fits in `budget` characters, from the end (`fromEnd`) or from the
 * start; always at least one, so a huge line is shown rather than nothing.
 */
export function fitLines(lines: readonly RenderedLine[], budget: number, fromEnd: boolean, perLine = 0): { kept: RenderedLine[]; droppedBytes: number; droppedLines: number } {
  let used = 0;
  let n = 0;
  while (n < lines.length) {
    const line = lines[fromEnd ? lines.length - 1 - n : n]!;
    if (n > 0 && used + line.html.length + perLine > budget) break;
    used += line.html.length + perLine;
    n++;
  }
  const kept = fromEnd ? lines.slice(lines.length - n) : lines.slice(0, n);
  const dropped = fromEnd ? lines.slice(0, lines.length - n) : lines.slice(n);
  return { kept, droppedBytes: dropped.reduce((sum, l) => sum + l.bytes, 0), droppedLines: dropped.length };
}

/**
 * What a terminal shows of a line that rewrites itself with \r (a progress
 * bar): the text after the last \r. Left in, HTML would turn each \r into
 * a line break that has no number. A line's own \r\n ending is dropped.
 */
function lastOverwrite(line: string): string {
  const trimmed = line.endsWith("\r") ? line.slice(0, -1) : line;
  const cr = trimmed.lastIndexOf("\r");
  return cr === -1 ? trimmed : trimmed.slice(cr + 1);
}

/** The classes renderLogLines uses, as CSS: the 16 colours in a palette readable on a light background. */
export const ANSI_CSS = (() => {
  const names = ["black", "red", "green", "yellow", "blue", "magenta", "cyan", "white"];
  const normal = ["#000", "#b21", "#173", "#860", "#14b", "#a2a", "#077", "#aaa"];
  const bright = ["#666", "#e33", "#2a4", "#b90", "#36e", "#d3d", "#1aa", "#fff"];
  const rules: string[] = [];
  names.forEach((name, i) => {
    rules.push(`.ansi-${name}-fg{color:${normal[i]}}.ansi-${name}-bg{background:${normal[i]}}`);
    rules.push(`.ansi-bright-${name}-fg{color:${bright[i]}}.ansi-bright-${name}-bg{background:${bright[i]}}`);
  });
  return rules.join("\n");
})();
