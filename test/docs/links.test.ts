/**
 * The README and docs/ link to each other by file and #anchor; a page renamed
 * or a heading reworded must not leave a dead link behind. These tests read
 * the repository's own Markdown, so every commit keeps the docs' links true.
 */
import { afterEach, describe, expect, test } from "bun:test";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { TempDirs } from "../helpers/temp.ts";
import { anchorsOf, checkLinks, linksOf, slugOf } from "./markdown-links.ts";

const root = join(import.meta.dir, "..", "..");

/** dt's own Markdown: not node_modules, dist or benchmark scratch space. */
async function repoMarkdown(): Promise<string[]> {
  const files: string[] = [];
  for (const pattern of ["*.md", "docs/**/*.md", "bench/*.md", "examples/**/*.md", "drizzle/*.md", "src/**/*.md", "test/**/*.md"]) {
    for await (const f of new Bun.Glob(pattern).scan({ cwd: root })) files.push(f);
  }
  return files.sort();
}

describe("the repository's Markdown", () => {
  test("every relative link and #anchor in README.md, docs/ and the other pages resolves", async () => {
    const files = await repoMarkdown();
    expect(files).toContain("README.md");
    expect(files).toContain("docs/README.md");
    expect(await checkLinks(root, files)).toEqual([]);
  });

  test("every docs/ page (and #anchor) that dt's source names in a message or comment exists", async () => {
    const named: { file: string; target: string }[] = [];
    for await (const file of new Bun.Glob("src/**/*.{ts,tsx}").scan({ cwd: root })) {
      for (const m of (await Bun.file(join(root, file)).text()).matchAll(/\bdocs\/[\w.-]+\.md(?:#[\w-]+)?/g)) named.push({ file, target: m[0] });
    }
    expect(named.length).toBeGreaterThan(0);
    const problems: string[] = [];
    for (const { file, target } of named) {
      const [page, anchor] = target.split("#");
      const path = join(root, page!);
      if (!(await Bun.file(path).exists())) problems.push(`${file}: ${target}: no such page`);
      else if (anchor && !anchorsOf(await Bun.file(path).text()).has(anchor)) problems.push(`${file}: ${target}: no such heading`);
    }
    expect(problems).toEqual([]);
  });

  test("every page in docs/ is listed in docs/README.md and linked from README.md", async () => {
    const pages = (await repoMarkdown()).filter((f) => f.startsWith("docs/") && f !== "docs/README.md");
    expect(pages.length).toBeGreaterThan(5);
    const index = linksOf(await Bun.file(join(root, "docs/README.md")).text()).map((l) => `docs/${l.target.split("#")[0]}`);
    const readme = linksOf(await Bun.file(join(root, "README.md")).text()).map((l) => l.target.split("#")[0]);
    expect(pages.filter((p) => !index.includes(p))).toEqual([]);
    expect(pages.filter((p) => !readme.includes(p))).toEqual([]);
  });
});

describe("the link checker", () => {
  const temps = new TempDirs();
  afterEach(() => temps.cleanup());

  test("slugs are GitHub's: code marks and punctuation dropped, spaces to hyphens", () => {
    expect(slugOf("`dt --version`")).toBe("dt---version");
    expect(slugOf("The client: `dt submit`, `watch`, `loop`")).toBe("the-client-dt-submit-watch-loop");
    expect(slugOf("MySQL/MariaDB")).toBe("mysqlmariadb");
    expect(slugOf("Exit code and `--json`")).toBe("exit-code-and---json");
    expect(slugOf("See [the API](api.md) here")).toBe("see-the-api-here");
    expect(slugOf("snake_case stays")).toBe("snake_case-stays");
  });

  test("repeated headings get -1, -2; headings inside code fences are not anchors; <a id> is", () => {
    const anchors = anchorsOf("# A\n## Notes\n## Notes\n```\n# not a heading\n```\n<a id=\"here\"></a>\n");
    expect([...anchors].sort()).toEqual(["a", "here", "notes", "notes-1"]);
  });

  test("links inside code are not links; brackets inside a code span do not end a link's text", () => {
    const md = "see [`dt local [tasks.json]`](docs/a.md#x) and `[no](nope.md)`\n```\n[no](nope.md)\n```\n[ref]: other.md\n";
    expect(linksOf(md)).toEqual([
      { line: 1, target: "docs/a.md#x" },
      { line: 5, target: "other.md" },
    ]);
  });

  test("a missing file, a missing anchor and a path out of the repository are each named with file and line", async () => {
    const dir = await temps.make("dt-links-");
    await mkdir(join(dir, "docs"));
    await writeFile(join(dir, "docs", "a.md"), "# Title\n\n## Real part\n");
    await writeFile(
      join(dir, "README.md"),
      [
        "[ok](docs/a.md) [ok](docs/a.md#real-part) [ok](#top) [ok](https://example.com/x.md#nope)",
        "[gone](docs/b.md)",
        "[bad anchor](docs/a.md#unreal-part)",
        "[self](#nowhere)",
        "[out](../../etc/passwd)",
        "<a id=\"top\"></a>",
      ].join("\n"),
    );
    const problems = await checkLinks(dir, ["README.md", "docs/a.md"]);
    expect(problems).toEqual([
      "README.md:2: docs/b.md: docs/b.md does not exist",
      "README.md:3: docs/a.md#unreal-part: docs/a.md has no heading or <a id> for #unreal-part",
      "README.md:4: #nowhere: README.md has no heading or <a id> for #nowhere",
      "README.md:5: ../../etc/passwd points outside the repository",
    ]);
  });
});
