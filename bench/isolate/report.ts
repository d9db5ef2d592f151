/** Summaries and printing: medians with their spread, the markdown table, the machine. */
import { availableParallelism } from "node:os";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

export interface Summary {
  median: number;
  min: number;
  max: number;
  n: number;
}

export function summarize(samples: readonly number[]): Summary {
  if (samples.length === 0) return { median: Number.NaN, min: Number.NaN, max: Number.NaN, n: 0 };
  const sorted = [...samples].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  const median = sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
  return { median, min: sorted[0]!, max: sorted[sorted.length - 1]!, n: sorted.length };
}

/** `1.23 s (1.20–1.31)`: the median, then min–max when there is more than one sample. */
export function formatSummary(s: Summary, unit: "s" | "ms" | "MB/s" | "count"): string {
  if (s.n === 0) return "n/a";
  const one = (v: number) =>
    unit === "s" ? (v / 1000).toFixed(2) : unit === "ms" ? v.toFixed(0) : unit === "MB/s" ? v.toFixed(0) : String(Math.round(v));
  const suffix = unit === "count" ? "" : ` ${unit}`;
  const spread = s.n > 1 && s.min !== s.max ? ` (${one(s.min)}–${one(s.max)})` : "";
  return `${one(s.median)}${suffix}${spread}`;
}

/**
 * A markdown table with padded columns, readable as plain text too. A `|` in
 * a cell is escaped: GitHub splits cells on it even inside code spans.
 */
export function markdownTable(header: string[], rawRows: string[][]): string {
  const rows = rawRows.map((r) => r.map((cell) => cell.replaceAll("|", "\\|")));
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(" | ")} |`;
  return [line(header), `|${widths.map((w) => "-".repeat(w + 2)).join("|")}|`, ...rows.map(line)].join("\n");
}

/** nproc, CPU model, memory and kernel: enough to tell two result tables' machines apart. */
export function machineDescription(): string {
  const cpuinfo = safeRead("/proc/cpuinfo");
  const model = /^model name\s*:\s*(.+)$/m.exec(cpuinfo)?.[1]?.trim() ?? "unknown CPU";
  const flags = /^flags\s*:\s*(.+)$/m.exec(cpuinfo)?.[1]?.split(" ") ?? [];
  const meminfo = safeRead("/proc/meminfo");
  const gib = (key: string) => {
    const kb = Number(new RegExp(`^${key}:\\s+(\\d+) kB`, "m").exec(meminfo)?.[1] ?? Number.NaN);
    return `${(kb / 2 ** 20).toFixed(1)} GiB`;
  };
  const kernel = safeRead("/proc/sys/kernel/osrelease").trim() || "unknown";
  return [
    `nproc ${availableParallelism()}, ${model}${flags.includes("sha_ni") ? " (SHA-NI)" : ""}`,
    `memory ${gib("MemTotal")} total, ${gib("MemAvailable")} available`,
    `Linux ${kernel}, Bun ${Bun.version}`,
  ].join("; ");
}

function safeRead(path: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return "";
  }
}

/**
 * The results table (one row per measurement, baseline and target) and the
 * per-phase breakdown, from the samples bench/isolate.ts recorded by name.
 */
export function resultTables(samples: (name: string) => number[], runsDone: number): string {
  const s = (name: string) => summarize(samples(name));
  const med = (name: string) => s(name).median;
  const ratio = (value: number, how: string) => (Number.isFinite(value) ? `${value.toFixed(2)} (${how})` : "n/a");
  const met = (ok: boolean) => (ok ? "yes" : "**no**");
  const counts = (name: string) => [...new Set(samples(name))].join(", ") || "n/a";
  const tarGzRatio = med("tar|gzip") / med("archive cold");
  const mapRatio = med("run-isolated warm map") / med("cp -al");
  const rows = [
    ["(a) cold archive, empty server", formatSummary(s("archive cold"), "s"), "`tar -cf - . | gzip -1`", formatSummary(s("tar|gzip"), "s"), ratio(tarGzRatio, "tar|gzip ÷ dt"), "≥ 1.5", met(tarGzRatio >= 1.5)],
    ["(a) cold archive, empty server", formatSummary(s("archive cold"), "s"), "`find | xargs -0 sha256sum`", formatSummary(s("sha256sum"), "s"), ratio(med("sha256sum") / med("archive cold"), "sha256sum ÷ dt"), "—", "—"],
    ["(b) re-archive, unchanged tree", formatSummary(s("archive unchanged"), "s"), "—", "—", "—", "< 1 s", met(med("archive unchanged") < 1000)],
    ["(b) re-archive: blobs uploaded", counts("archive unchanged uploaded"), "—", "—", "—", "= 0", met(samples("archive unchanged uploaded").every((n) => n === 0))],
    ["(c) one small file edited: blobs uploaded", counts("archive one edit uploaded"), "—", "—", "—", "= 2", met(samples("archive one edit uploaded").every((n) => n === 2))],
    ["(c) one small file edited: time", formatSummary(s("archive one edit"), "s"), "—", "—", "—", "—", "—"],
    ["(d) run-isolated, cold cache: wall", formatSummary(s("run-isolated cold"), "s"), "`tar -cf - . | tar -xf - -C new`", formatSummary(s("tar|tar copy"), "s"), ratio(med("tar|tar copy") / med("run-isolated cold"), "copy ÷ dt"), "—", "—"],
    ["(d) run-isolated, cold cache: fetch throughput", formatSummary(s("run-isolated cold MB/s"), "MB/s"), "—", "—", "—", "—", "—"],
    ["(e) run-isolated, warm cache: map", formatSummary(s("run-isolated warm map"), "ms"), "`cp -al tree new`", formatSummary(s("cp -al"), "ms"), ratio(mapRatio, "dt map ÷ cp -al"), "≤ 2", met(mapRatio <= 2)],
    ["(e) run-isolated, warm cache: wall", formatSummary(s("run-isolated warm"), "ms"), "`cp -al tree new`", formatSummary(s("cp -al"), "ms"), ratio(med("run-isolated warm") / med("cp -al"), "dt ÷ cp -al"), "—", "—"],
  ];
  const main = markdownTable(["measurement", "dt (median)", "baseline", "baseline (median)", "ratio", "target", "met?"], rows);
  const phase = (prefix: string, names: string[]) => names.map((n) => `${n} ${formatSummary(s(`${prefix} ${n}`), "ms")}`).join(", ");
  const phases = markdownTable(
    ["dt step", "phases (median, min–max)"],
    [
      ["(a) archive cold", phase("archive cold", ["walk", "hash", "upload"])],
      ["(b) archive unchanged", `${phase("archive unchanged", ["walk", "hash", "upload"])}; files hashed ${counts("archive unchanged hashed")}`],
      ["(c) archive one edit", `files hashed ${counts("archive one edit hashed")}`],
      ["(d) run-isolated cold", phase("run-isolated cold", ["fetch", "map", "run", "cleanup"])],
      ["(e) run-isolated warm", phase("run-isolated warm", ["fetch", "map", "run", "cleanup"])],
    ],
  );
  return `${main}\n\nWhere dt's time went (from archive's stats and run-isolated's phases_ms):\n\n${phases}\n\nMedians of ${runsDone} run(s); min–max in parentheses. MB = 10^6 bytes.`;
}

/**
 * Prints a benchmark's header and tables, keeps them in WORK/last-results.md,
 * and returns its exit code: 1 when a correctness check failed.
 */
export function publishResults(header: string, text: string, failures: readonly string[], workDir: string): number {
  console.log(`\n${header}\n${text}`);
  writeFileSync(join(workDir, "last-results.md"), `${header}\n${text}\n`);
  if (failures.length === 0) return 0;
  console.error(`\nbench: ${failures.length} check(s) failed:\n${failures.map((f) => `  - ${f}`).join("\n")}`);
  return 1;
}
