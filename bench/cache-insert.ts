/**
 * `bun bench/cache-insert.ts [--mib N] [--runs N] [--old-checkout DIR]`
 *
 * How fast LocalCache.insert stores one big blob fetched over HTTP, and how
 * long it holds up the event loop while it does (a slave's heartbeat and
 * log forwarding run on that loop). A local server streams an N MiB blob
 * (300 by default) from a file; each run inserts it into a fresh cache and
 * a timer that asks to run every millisecond records the longest gap it
 * saw. With --old-checkout (a tree of another commit, e.g. `git archive
 * ff753ab | tar -x -C /tmp/dt-before`), that commit's insert runs in the
 * same process, alternating with today's, as the baseline.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { systemClock } from "../src/common/clock.ts";
import { DEFAULT_CACHE_LIMITS, LocalCache } from "../src/isolate/cache/local-cache.ts";

interface Options {
  mib: number;
  runs: number;
  oldCheckout: string | undefined;
}

function parseArgs(argv: string[]): Options {
  const options: Options = { mib: 300, runs: 3, oldCheckout: undefined };
  for (let i = 0; i < argv.length; i++) {
    const [flag, inline] = argv[i]!.split(/=(.*)/s, 2) as [string, string | undefined];
    const value = () => inline ?? argv[++i] ?? fail(`${flag} needs a value`);
    if (flag === "--mib") options.mib = Number(value());
    else if (flag === "--runs") options.runs = Number(value());
    else if (flag === "--old-checkout") options.oldCheckout = resolve(value());
    else fail(`unknown flag ${flag}; usage: bun bench/cache-insert.ts [--mib N] [--runs N] [--old-checkout DIR]`);
  }
  if (!(options.mib > 0)) fail("--mib must be a positive number");
  if (!Number.isInteger(options.runs) || options.runs < 1) fail("--runs must be a positive integer");
  return options;
}

function fail(message: string): never {
  console.error(`bench: ${message}`);
  process.exit(2);
}

/** What the bench needs of a LocalCache, today's or another commit's. */
interface CacheLike {
  insert(d: { hash: string; size: number }, body: ReadableStream<Uint8Array>): Promise<string>;
  close(): Promise<void>;
}
type Opener = (dir: string) => Promise<CacheLike>;

/** The longest wait of a timer asking to run every millisecond, until stopped. */
function stallMeter(): { stop: () => number } {
  let last = performance.now();
  let longest = 0;
  let timer: ReturnType<typeof setTimeout>;
  const tick = () => {
    const now = performance.now();
    longest = Math.max(longest, now - last);
    last = now;
    timer = setTimeout(tick, 1);
  };
  timer = setTimeout(tick, 1);
  return {
    stop: () => {
      clearTimeout(timer);
      return Math.max(longest, performance.now() - last);
    },
  };
}

async function oneRun(open: Opener, url: string, digest: { hash: string; size: number }, work: string): Promise<{ seconds: number; stallMs: number }> {
  const dir = mkdtempSync(join(work, "cache-"));
  const cache = await open(dir);
  try {
    const meter = stallMeter();
    const started = performance.now();
    const res = await fetch(url);
    await cache.insert(digest, res.body!);
    const seconds = (performance.now() - started) / 1000;
    return { seconds, stallMs: meter.stop() };
  } finally {
    await cache.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

async function main(): Promise<void> {
  const options = parseArgs(process.argv.slice(2));
  const work = mkdtempSync(join(tmpdir(), "dt-bench-cache-"));
  const blobPath = join(work, "blob");
  const bytes = new Uint8Array(options.mib * 2 ** 20);
  crypto.getRandomValues(bytes.subarray(0, 65536));
  for (let off = 65536; off < bytes.length; off += 65536) bytes.copyWithin(off, 0, Math.min(65536, bytes.length - off));
  writeFileSync(blobPath, bytes);
  const digest = { hash: new Bun.CryptoHasher("sha256").update(bytes).digest("hex"), size: bytes.length };
  const server = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: () => new Response(Bun.file(blobPath)) });
  const url = `http://127.0.0.1:${server.port}/blob`;
  const variants: [string, Opener][] = [["today", (dir) => LocalCache.open(dir, DEFAULT_CACHE_LIMITS, systemClock)]];
  if (options.oldCheckout) {
    const old = (await import(join(options.oldCheckout, "src/isolate/cache/local-cache.ts"))) as { LocalCache: typeof LocalCache };
    variants.push([`old (${options.oldCheckout})`, (dir) => old.LocalCache.open(dir, DEFAULT_CACHE_LIMITS, systemClock)]);
  }
  const results = new Map<string, { seconds: number; stallMs: number }[]>(variants.map(([name]) => [name, []]));
  try {
    for (let run = 0; run < options.runs; run++) {
      for (const [name, open] of run % 2 === 0 ? variants : [...variants].reverse()) results.get(name)!.push(await oneRun(open, url, digest, work));
    }
  } finally {
    server.stop(true);
    rmSync(work, { recursive: true, force: true });
  }
  console.log(`insert of one ${options.mib} MiB blob fetched from a local HTTP server, ${options.runs} runs each (median, min-max)\n`);
  console.log("| insert | MB/s | longest event-loop stall (ms) |\n|---|---|---|");
  for (const [name, runs] of results) {
    const mbps = runs.map((r) => digest.size / 1e6 / r.seconds);
    const stalls = runs.map((r) => r.stallMs);
    console.log(`| ${name} | ${median(mbps).toFixed(0)} (${Math.min(...mbps).toFixed(0)}-${Math.max(...mbps).toFixed(0)}) | ${median(stalls).toFixed(1)} (${Math.min(...stalls).toFixed(1)}-${Math.max(...stalls).toFixed(1)}) |`);
  }
}

await main();
