import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export interface CurlResult {
  status: number;
  /** Headers of the last response (curl --digest makes two requests). */
  headers: Headers;
  body: string;
  /** curl -v's trace: request lines start with "> ". */
  trace: string;
}

/**
 * Runs the real curl with `args` (URL included) and returns the final
 * response. `-v` is always on, so the Authorization headers curl sent can be
 * read from `trace` and replayed.
 *
 * @example
 *   const res = await curl(["--interface", "127.0.0.2", "--digest", "-u", "alice:pw", `${url}/submit_job`]);
 */
export async function curl(args: readonly string[]): Promise<CurlResult> {
  const dir = mkdtempSync(join(tmpdir(), "dt-curl-"));
  try {
    const headerFile = join(dir, "headers");
    const bodyFile = join(dir, "body");
    const child = Bun.spawn(["curl", "-sS", "-v", "--max-time", "20", "-D", headerFile, "-o", bodyFile, "-w", "%{http_code}", ...args], { stdout: "pipe", stderr: "pipe", stdin: "ignore" });
    const [out, trace, code] = await Promise.all([new Response(child.stdout).text(), new Response(child.stderr).text(), child.exited]);
    if (code !== 0) throw new Error(`curl ${args.join(" ")} exited ${code}: ${trace.split("\n").filter((l) => l.startsWith("curl:") || l.startsWith("*")).slice(-3).join("; ")}`);
    const blocks = readFileSync(headerFile, "utf8").split(/\r?\n\r?\n/).filter((b) => b.trim() !== "");
    const headers = new Headers();
    for (const line of (blocks.at(-1) ?? "").split(/\r?\n/).slice(1)) {
      const colon = line.indexOf(":");
      if (colon > 0) headers.append(line.slice(0, colon).trim(), line.slice(colon + 1).trim());
    }
    return { status: Number(out.trim()), headers, body: readFileSync(bodyFile, "utf8"), trace };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The Authorization headers curl sent, in order. */
export function sentAuthorizations(trace: string): string[] {
  return trace.split(/\r?\n/).filter((l) => /^> Authorization: /i.test(l)).map((l) => l.replace(/^> Authorization: /i, "").trim());
}
