/** The chaos bench's table: one row per scenario × backend, then the failures and notes that explain the numbers. */
import { markdownTable } from "../isolate/report.ts";
import type { Row } from "./runner.ts";

const HEADER = ["scenario", "backend", "finished", "tasks lost", "duplicates", "retries", "requeues", "recovery s (first result / end)", "procs left", "wall s", "verdict"];

export function chaosTable(rows: readonly Row[]): string {
  const cells = rows.map((r) => {
    const v = r.verdict;
    const head = [r.scenario, r.backend];
    if (!v) return [...head, r.failures.length > 0 ? "**no**" : "n/a", "—", "—", "—", "—", "—", "—", r.wallSec ? r.wallSec.toFixed(0) : "—", r.failures.length > 0 ? "**FAIL**" : "n/a"];
    return [
      ...head,
      v.finished ? "yes" : "**no**",
      count(v.lost),
      count(v.duplicates),
      String(v.retries),
      String(v.requeues),
      r.processesGoneSec !== undefined ? `procs gone ${r.processesGoneSec.toFixed(1)}` : `${seconds(v.firstResultSec)} / ${seconds(v.endSec)}`,
      count(v.leftovers),
      r.wallSec.toFixed(0),
      r.failures.length > 0 ? "**FAIL**" : "pass",
    ];
  });
  const details = rows
    .filter((r) => r.failures.length > 0 || r.notes.length > 0)
    .map((r) => `- **${r.scenario} on ${r.backend}**: ${[...r.failures.map((f) => `FAIL: ${f}`), ...r.notes].join("; ")}`);
  return `${markdownTable(HEADER, cells)}\n\n${details.join("\n")}`;
}

/** A non-zero count stands out. */
function count(n: number): string {
  return n === 0 ? "0" : `**${n}**`;
}

function seconds(s: number | undefined): string {
  return s === undefined ? "—" : s.toFixed(1);
}
