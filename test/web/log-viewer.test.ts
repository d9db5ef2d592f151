/**
 * The log viewer over HTTP, on a real master: a hostile log (markup, broken
 * and hostile ANSI, a 100 KB line, invalid UTF-8, a NUL), colours, line
 * anchors, a 20,000-line log read by ranges with its numbering right, and
 * the header's links.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { outputKey } from "../../src/master/protocol.ts";
import { type MasterFixture, drive, makeMaster, preText, submit, withQuery } from "./fixture.ts";

const JOB = "logs.alice.1700000000.1";
const DESCRIPTION = `flaky <b>test</b>`;
const ESC = "\x1b";
const LONG_LINE = `${"x".repeat(100_000)}\n`;
/** Each piece on a line of its own, so a test can find what became of it. */
const HOSTILE_LINES = [
  `plain <script>alert(1)</script> & "q" 'a'`,
  `${ESC}[32mgreen <img src=x onerror=alert(1)>${ESC}[0m and ${ESC}[1;31mbold red${ESC}[0m`,
  `${ESC}[38;5;196mcolour 196${ESC}[0m ${ESC}[38;2;10;20;30mtrue colour${ESC}[0m`,
  `${ESC}]8;;javascript:alert(1)${ESC}\\click me${ESC}]8;;${ESC}\\ after the link`,
  `${ESC}]0;a title${"\x07"}titled ${ESC}[2J${ESC}[10;10Hcursor moved`,
  `${ESC}[${"9".repeat(200)}mhuge params ${ESC}[38;5;999mbad index${ESC}[m`,
  `lone escape ${ESC} here, unterminated OSC next`,
  `${ESC}]8;;http://evil.example/"onmouseover=alert(1) never ends`,
  `still shown after the unterminated OSC`,
  `nul:\0:end`,
  `progress 10%\rprogress 100%`,
];
const INVALID_UTF8 = new Uint8Array([0x62, 0x61, 0x64, 0x3a, 0xff, 0xfe, 0xc3, 0x28, 0x0a]); // "bad:" then invalid bytes, "(", "\n"
const HOSTILE_LOG = new Uint8Array(Buffer.concat([Buffer.from(`${HOSTILE_LINES.join("\n")}\n`), Buffer.from(LONG_LINE), INVALID_UTF8, Buffer.from(`${ESC}[31mends mid-sequence ${ESC}[3`)]));
const BIG_LINES = 20_000;
/** 20,000 lines of about 70 bytes, as in the issue: 1.4 MB. Line n says its number. */
const BIG_LOG = Array.from({ length: BIG_LINES }, (_, i) => `line ${i + 1} ${ESC}[3${i % 8}mcoloured${ESC}[0m ${"-".repeat(40)}\n`).join("");

let fx: MasterFixture;
let server: ReturnType<typeof Bun.serve>;
let base: string;
let taskId: string;

const q = (path: string, attempt: number, extra: Record<string, string | number> = {}) => withQuery(path, { job_id: JOB, task_id: taskId, attempt, log: "stdout", ...extra });

async function get(path: string, status = 200): Promise<string> {
  const res = await fetch(new URL(path, `${base}/`));
  const text = await res.text();
  expect({ path, status: res.status }).toEqual({ path, status });
  return text;
}

beforeAll(async () => {
  fx = await makeMaster();
  server = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: fx.app.fetch });
  base = `http://127.0.0.1:${server.port}`;
  [taskId] = await submit(fx, JOB, [{ description: DESCRIPTION, max_retries: 1 }]);
  await drive(fx, "s1", (_, attempt) => (attempt === 0 ? "FAILED" : "SUCCEEDED"));
  await fx.master.deps.artifacts.put(outputKey(JOB, taskId, 0, "stdout"), HOSTILE_LOG);
  await fx.master.deps.artifacts.put(outputKey(JOB, taskId, 1, "stdout"), new TextEncoder().encode(BIG_LOG));
});
afterAll(async () => {
  await server.stop(true);
  await fx.close();
});

/** The HTML of line `n` of a page, up to its closing tag. */
function lineOf(html: string, n: number): string {
  const at = html.indexOf(`<span id="L${n}">`);
  expect({ line: n, found: at !== -1 }).toEqual({ line: n, found: true });
  return html.slice(at, html.indexOf("\n</span>", at));
}

describe("a hostile log", () => {
  let html: string;
  beforeAll(async () => {
    html = await get(`/${q("view_log", 0)}`);
  });

  test("shows no markup of its own, runs nothing, links nowhere", () => {
    // Its text is there, escaped; none of it is markup.
    for (const raw of ["<script>alert", "<img", `"onmouseover`, "javascript:", `href="http`]) expect({ raw, found: html.includes(raw) }).toEqual({ raw, found: false });
    expect(html).not.toContain("<script");
    // The only links in the log are its own line anchors.
    const pre = /<pre id="log"[^>]*>([\s\S]*?)<\/pre>/.exec(html)![1]!;
    const hrefs = [...pre.matchAll(/href="([^"]*)"/g)].map((m) => m[1]);
    expect(hrefs.every((h) => /^#L\d+$/.test(h!))).toBe(true);
    expect(lineOf(html, 1)).toContain(`plain &lt;script&gt;alert(1)&lt;/script&gt; &amp; &quot;q&quot; &#x27;a&#x27;`);
  });

  test("colours are spans with classes (16 colours) or styles (256 and true colour)", () => {
    expect(lineOf(html, 2)).toContain(`<span class="ansi-green-fg">green &lt;img src=x onerror=alert(1)&gt;</span>`);
    expect(lineOf(html, 2)).toMatch(/<span style="font-weight:bold" class="ansi-red-fg">bold red<\/span>/);
    expect(lineOf(html, 3)).toContain(`<span style="color:rgb(255,0,0)">colour 196</span>`);
    expect(lineOf(html, 3)).toContain(`<span style="color:rgb(10,20,30)">true colour</span>`);
  });

  test("other sequences are dropped, a broken one shown as ␛, and none swallows the lines after it", () => {
    const text = preText(html).split("\n");
    expect(text.slice(3, 11)).toEqual([
      "click me after the link",
      "titled cursor moved",
      `␛[${"9".repeat(200)}mhuge params bad index`,
      "lone escape ␛ here, unterminated OSC next",
      `␛]8;;http://evil.example/"onmouseover=alert(1) never ends`,
      "still shown after the unterminated OSC",
      "nul:␀:end",
      "progress 100%",
    ]);
    // The unterminated OSC is shown as text (escaped), not taken as a link.
    expect(lineOf(html, 8)).toContain("␛]8;;http://evil");
    expect(html).not.toContain("\0");
  });

  test("a 100 KB line, invalid UTF-8 and a log ending mid-sequence", () => {
    const text = preText(html).split("\n");
    expect(text[11]).toBe("x".repeat(100_000));
    expect(text[12]).toBe("bad:\uFFFD\uFFFD\uFFFD(");
    expect(text[13]).toBe("ends mid-sequence ␛[3");
    expect(lineOf(html, 14)).toContain(`<span class="ansi-red-fg">ends mid-sequence ␛[3</span>`);
  });
});

describe("a 20,000-line log, by ranges", () => {
  test("the first page is the end of the log, under 300 KB of HTML, numbered right", async () => {
    const html = await get(`/${q("view_log", 1)}`);
    expect(html.length).toBeLessThan(300_000);
    expect(lineOf(html, BIG_LINES)).toContain(`line ${BIG_LINES} `);
    expect(lineOf(html, BIG_LINES)).toContain(`<span id="L${BIG_LINES}"><a href="#L${BIG_LINES}"></a>line ${BIG_LINES} `);
    // The CSS counter that numbers the lines starts where the page does.
    const first = Number(/<span id="L(\d+)">/.exec(html)![1]);
    expect(html).toContain(`style="counter-reset: ln ${first - 1}"`);
    expect(html).not.toContain(`id="L1"`);
    expect(html).toContain(`<span class="ansi-red-fg">coloured</span>`);
    expect(html).toContain("End of the log.");
  });

  test("earlier ranges, followed link by link, reach line 1; every line once, under its own number", async () => {
    const seen = new Map<number, number>();
    let path: string | null = `/${q("view_log", 1)}`;
    let pages = 0;
    while (path) {
      const html = await get(path);
      pages++;
      expect(html.length).toBeLessThan(300_000);
      for (const m of html.matchAll(/<span id="L(\d+)"><a [^>]*><\/a>line (\d+) /g)) {
        expect(m[1]).toBe(m[2]!);
        seen.set(Number(m[1]), (seen.get(Number(m[1])) ?? 0) + 1);
      }
      const earlier = /<a id="log-earlier" rel="prev" href="([^"]+)">/.exec(html);
      path = earlier ? `/${earlier[1]!.replaceAll("&amp;", "&")}` : null;
    }
    expect(pages).toBeGreaterThan(4);
    expect(seen.size).toBe(BIG_LINES);
    expect([...seen.values()].every((n) => n === 1)).toBe(true);
  });

  test("line=N opens the range starting at line N, so #LN resolves; after=0 the first lines; later links go forward", async () => {
    const at = await get(`/${q("view_log", 1, { line: 12_345 })}#L12345`);
    expect(lineOf(at, 12_345)).toContain("line 12345 ");
    expect(preText(at).startsWith("line 12345 ")).toBe(true);
    const first = await get(`/${q("view_log", 1, { after: 0 })}`);
    expect(lineOf(first, 1)).toContain("line 1 ");
    const later = /<a id="log-later" rel="next" href="([^"]+)">/.exec(first)![1]!.replaceAll("&amp;", "&");
    const next = await get(`/${later}`);
    const last = Number([...first.matchAll(/id="L(\d+)"/g)].at(-1)![1]);
    expect(lineOf(next, last + 1)).toContain(`line ${last + 1} `);
  });

  test("a bad range is a 400 naming the parameter", async () => {
    for (const [name, value] of [["before", "-1"], ["after", "1e3"], ["line", "0"]] as const) {
      expect(await get(`/${q("view_log", 1, { [name]: value })}`, 400)).toContain(name);
    }
  });
});

describe("the header", () => {
  test("names the job, the task by its description (digest on demand), the attempt and its state in words", async () => {
    const html = await get(`/${q("view_log", 0)}`);
    expect(html).toContain(`<h1>flaky &lt;b&gt;test&lt;/b&gt; <small>attempt 0, stdout</small></h1>`);
    expect(html).toContain(`<details><summary>Task digest</summary><code>${taskId}</code></details>`);
    expect(html).toContain(`<span class="state failed">failed, exit 1, on s1</span>`);
    expect(html).toContain(`<strong aria-current="page">0 (failed, exit 1, on s1) </strong>`);
  });

  test("links to the job, the other stream, the other attempt and the raw file, each answering 200", async () => {
    const html = await get(`/${q("view_log", 0)}`);
    const href = (id: string) => new RegExp(`id="${id}" href="([^"]+)"`).exec(html)?.[1]?.replaceAll("&amp;", "&");
    const links = { job: href("log-job"), stream: href("log-other-stream"), raw: href("log-raw"), attempt: /class="log-attempt" href="([^"]+)"/.exec(html)?.[1]?.replaceAll("&amp;", "&") };
    expect(links.job).toBe(withQuery("job", { job_id: JOB }));
    expect(links.stream).toBe(q("view_log", 0, { log: "stderr" }));
    expect(links.attempt).toBe(q("view_log", 1));
    expect(links.raw).toBe(`api/v1/artifacts/${encodeURIComponent(outputKey(JOB, taskId, 0, "stdout"))}`);
    for (const link of Object.values(links)) await get(`/${link}`);
    const raw = await fetch(`${base}/${links.raw}`);
    expect(new Uint8Array(await raw.arrayBuffer())).toEqual(HOSTILE_LOG);
  });
});
