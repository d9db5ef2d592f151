/**
 * Checks the relative links of dt's Markdown files: every linked file exists,
 * and every `#anchor` names a heading (GitHub's slug) or an explicit
 * `<a id>` in the target. External links (any `scheme:`) are not fetched.
 *
 * @example
 *   const problems = await checkLinks(repoRoot, ["README.md", "docs/api.md"]);
 *   // ["README.md:12: docs/nope.md does not exist", ...]
 */
import { existsSync, statSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { dirname, join, relative, resolve } from "node:path";

export interface MarkdownLink {
  /** 1-based line of the link in its file. */
  line: number;
  /** The target as written: `docs/api.md#the-cas`, `#exit-codes`. */
  target: string;
}

/**
 * The text with fenced code blocks and inline code spans blanked out (same
 * line count), so `[x](y)` inside code is not taken for a link and brackets
 * inside a code span do not end a link's text.
 */
export function withoutCode(markdown: string): string {
  const lines = markdown.split("\n");
  let fence: string | undefined;
  const out = lines.map((line) => {
    const opener = /^\s{0,3}(`{3,}|~{3,})/.exec(line);
    if (fence === undefined && opener) {
      fence = opener[1]![0]!.repeat(opener[1]!.length);
      return "";
    }
    if (fence !== undefined) {
      if (line.trim().startsWith(fence)) fence = undefined;
      return "";
    }
    // A code span opens with N backticks and closes with the next run of exactly N.
    return line.replace(/(`+)([\s\S]*?[^`])\1(?!`)/g, (_m, ticks: string, body: string) => "x".repeat(ticks.length * 2 + body.length));
  });
  return out.join("\n");
}

/** Inline links and images `[text](target "title")` and reference definitions `[id]: target`, outside code. */
export function linksOf(markdown: string): MarkdownLink[] {
  const links: MarkdownLink[] = [];
  withoutCode(markdown)
    .split("\n")
    .forEach((line, i) => {
      for (const m of line.matchAll(/\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)) links.push({ line: i + 1, target: m[1]! });
      const def = /^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+"[^"]*")?\s*$/.exec(line);
      if (def) links.push({ line: i + 1, target: def[1]! });
    });
  return links;
}

/**
 * GitHub's anchor for a heading's text (github-slugger): the rendered text
 * lowercased, every character that is not a letter, digit, mark, connector
 * (`_`), hyphen or space dropped, spaces turned into hyphens.
 */
export function slugOf(headingText: string): string {
  const rendered = headingText
    .replace(/!?\[([^\]]*)\]\([^)]*\)/g, "$1") // a link's text stays, its target goes
    .replace(/`/g, "")
    .replace(/<[^>]+>/g, "");
  return rendered
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{M}\p{N}\p{Pc}\- ]/gu, "")
    .replace(/ /g, "-");
}

/** Every anchor a file offers: heading slugs (repeats get -1, -2, … as on GitHub) and `<a id|name="…">`. */
export function anchorsOf(markdown: string): Set<string> {
  const anchors = new Set<string>();
  const seen = new Map<string, number>();
  const lines = markdown.split("\n");
  const code = withoutCode(markdown).split("\n");
  lines.forEach((line, i) => {
    if (code[i] === "" && line !== "") return; // inside a fenced block
    const heading = /^\s{0,3}#{1,6}\s+(.*?)(?:\s+#+)?\s*$/.exec(line);
    if (heading) {
      const base = slugOf(heading[1]!);
      const n = seen.get(base) ?? 0;
      seen.set(base, n + 1);
      anchors.add(n === 0 ? base : `${base}-${n}`);
    }
    for (const m of code[i]!.matchAll(/<a\s+(?:id|name)="([^"]+)"/g)) anchors.add(m[1]!);
  });
  return anchors;
}

/**
 * Problems with the relative links of `files` (paths relative to `root`),
 * as `file:line: what is wrong`; empty when every link resolves.
 */
export async function checkLinks(root: string, files: string[]): Promise<string[]> {
  const problems: string[] = [];
  const anchorCache = new Map<string, Set<string>>();
  const anchorsOfFile = async (path: string) => {
    let anchors = anchorCache.get(path);
    if (!anchors) {
      anchors = anchorsOf(await readFile(path, "utf8"));
      anchorCache.set(path, anchors);
    }
    return anchors;
  };
  for (const file of files) {
    const path = join(root, file);
    for (const { line, target } of linksOf(await readFile(path, "utf8"))) {
      if (/^[a-z][a-z0-9+.-]*:/i.test(target)) continue; // http:, https:, mailto: are not ours to check
      const where = `${file}:${line}`;
      const hash = target.indexOf("#");
      const pathPart = decodeURIComponent(hash === -1 ? target : target.slice(0, hash));
      const anchor = hash === -1 ? undefined : decodeURIComponent(target.slice(hash + 1));
      const resolved = pathPart === "" ? path : resolve(dirname(path), pathPart);
      if (relative(root, resolved).startsWith("..")) {
        problems.push(`${where}: ${target} points outside the repository`);
        continue;
      }
      if (!existsSync(resolved)) {
        problems.push(`${where}: ${target}: ${relative(root, resolved)} does not exist`);
        continue;
      }
      if (anchor === undefined) continue;
      if (!resolved.endsWith(".md") || statSync(resolved).isDirectory()) {
        problems.push(`${where}: ${target}: an #anchor into a file that is not Markdown cannot be checked; link the file alone`);
        continue;
      }
      if (!(await anchorsOfFile(resolved)).has(anchor)) {
        problems.push(`${where}: ${target}: ${relative(root, resolved)} has no heading or <a id> for #${anchor}`);
      }
    }
  }
  return problems;
}
