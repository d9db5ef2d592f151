/**
 * log-render on generated hostile logs: whatever the bytes (markup, quotes,
 * escape sequences whole, cut and nested, NUL, \r, invalid UTF-8), the HTML
 * has no tag but ansi_up's <span> with a class or style of the forms it
 * writes, no text character that could open markup, and the same lines and
 * bytes as the input.
 */
import { expect, test } from "bun:test";
import { fitLines, renderLogLines, sanitizeAnsi } from "../../src/web/log-render.ts";
import { seededRandom } from "../helpers/prng.ts";

const PIECES = [
  "<", ">", "&", '"', "'", "<script>", "</span>", "<a href=x>", "javascript:", " onload=", "\x1b", "\x1b[", "\x1b]", "\x1b]8;;http://x/\x07", "\x1b]8;;",
  "\x1b\\", "\x07", "\x1b[31m", "\x1b[1;4;38;5;200;48;2;1;2;3m", "\x1b[0m", "\x1b[m", "\x1b[2J", "\x1b[?25l", "\x1b[38;2;999;-1;x", "\x1bP", "\x1b(B",
  "\0", "\r", "\n", "\t", "é", "😀", "\uFFFD", "a", "word ", ";", "m",
];
/** A <span> as ansi_up writes it: classes like ansi-red-fg, styles of colours, weights and decorations only. */
const SPAN = /^<span(?: style="(?:(?:color|background-color):rgb\(\d{1,3},\d{1,3},\d{1,3}\)|font-weight:bold|opacity:0\.7|font-style:italic|text-decoration:underline)(?:;(?:(?:color|background-color):rgb\(\d{1,3},\d{1,3},\d{1,3}\)|font-weight:bold|opacity:0\.7|font-style:italic|text-decoration:underline))*")?(?: class="ansi-[a-z-]+(?: ansi-[a-z-]+)*")?>$/;

function hostileLog(random: () => number): Uint8Array {
  const parts: Uint8Array[] = [];
  const encoder = new TextEncoder();
  for (let i = 0; i < 400; i++) {
    if (random() < 0.03) parts.push(Uint8Array.of(0xff, 0xc3, 0xe2, 0x82)); // invalid and cut UTF-8
    else parts.push(encoder.encode(PIECES[Math.floor(random() * PIECES.length)]!));
  }
  return new Uint8Array(Buffer.concat(parts));
}

test("any mix of hostile pieces renders to ansi_up spans and escaped text, line for line, byte for byte", () => {
  const random = seededRandom(16);
  for (let round = 0; round < 300; round++) {
    const bytes = hostileLog(random);
    const lines = renderLogLines(bytes);
    expect(lines.reduce((n, l) => n + l.bytes, 0)).toBe(bytes.byteLength);
    const newlines = bytes.filter((b) => b === 10).length;
    expect(lines.length).toBe(newlines + (bytes.at(-1) === 10 ? 0 : 1));
    for (const { html } of lines) {
      const tags = html.match(/<[^>]*>/g) ?? [];
      for (const tag of tags) if (tag !== "</span>") expect({ round, tag, ok: SPAN.test(tag) }).toEqual({ round, tag, ok: true });
      const text = html.replace(/<[^>]*>/g, "");
      expect({ round, text, raw: /[<>"'\x1b\0\r\n]|&(?!(?:amp|lt|gt|quot|#x27);)/.test(text) }).toEqual({ round, text, raw: false });
      expect(html.split("<span").length).toBe(html.split("</span>").length);
    }
  }
});

test("sanitizeAnsi keeps SGR, drops other sequences, and shows what is left of a broken one", () => {
  expect(sanitizeAnsi("a\x1b[31mb\x1b[0m")).toBe("a\x1b[31mb\x1b[0m");
  expect(sanitizeAnsi("a\x1b[2Jb\x1b]0;title\x07c\x1b]8;;u\x1b\\d\x1b(Be")).toBe("abcde");
  expect(sanitizeAnsi("x\x1b]8;;never ends")).toBe("x␛]8;;never ends");
  expect(sanitizeAnsi("nul\0")).toBe("nul␀");
  expect(sanitizeAnsi("\x1b")).toBe("␛");
});

test("fitLines keeps the most lines under the budget from the side asked, and at least one", () => {
  const lines = [10, 20, 30, 40].map((n) => ({ html: "x".repeat(n), bytes: n + 1 }));
  expect(fitLines(lines, 75, true)).toEqual({ kept: lines.slice(2), droppedBytes: 11 + 21, droppedLines: 2 });
  expect(fitLines(lines, 75, false)).toEqual({ kept: lines.slice(0, 3), droppedBytes: 41, droppedLines: 1 });
  expect(fitLines(lines, 75, false, 10)).toEqual({ kept: lines.slice(0, 2), droppedBytes: 31 + 41, droppedLines: 2 });
  expect(fitLines(lines, 1, true).kept).toEqual([lines[3]!]);
});
