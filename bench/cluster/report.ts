/**
 * The cluster bench's tables: results against baselines and targets, then
 * where dt's time went. Only measurements that were run (`--only`) get rows.
 */
import { markdownTable, summarize, type Summary } from "../isolate/report.ts";
import { OVERHEAD_PHASES } from "./attempts.ts";
import { BIG_JOB } from "./big-job.ts";
import { LATENCY } from "./latency.ts";
import { MAKESPAN } from "./makespan.ts";
import type { Samples } from "./samples.ts";
import { THROUGHPUT } from "./throughput.ts";

type Unit = "s" | "ms" | "ms1" | "tasks/s" | "MiB" | "ratio" | "share" | "cpu";

/** `12.3 ms (11.0–14.2)`: the median, then min–max when the runs differ. */
export function formatSummary(s: Summary, unit: Unit): string {
  if (s.n === 0) return "n/a";
  const one = (v: number) => {
    switch (unit) {
      case "s": return (v / 1000).toFixed(2);
      case "ms": return v.toFixed(0);
      case "ms1": return v.toFixed(1);
      case "tasks/s": return v.toFixed(0);
      case "MiB": return (v / 2 ** 20).toFixed(0);
      case "ratio": return v.toFixed(2);
      case "share": return `${(v * 100).toFixed(0)}`;
      case "cpu": return v.toFixed(2);
    }
  };
  const suffix = { s: " s", ms: " ms", ms1: " ms", "tasks/s": " tasks/s", MiB: " MiB", ratio: "", share: " %", cpu: " ms" }[unit];
  const spread = s.n > 1 && one(s.min) !== one(s.max) ? ` (${one(s.min)}–${one(s.max)})` : "";
  return `${one(s.median)}${suffix}${spread}`;
}

export function resultTables(samples: Samples, runsDone: number): string {
  const s = (name: string) => summarize(samples.get(name));
  const med = (name: string) => s(name).median;
  const has = (name: string) => samples.get(name).length > 0;
  const f = (name: string, unit: Unit) => formatSummary(s(name), unit);
  const ratio = (value: number, how: string) => (Number.isFinite(value) ? `${value.toFixed(2)} (${how})` : "n/a");
  const met = (ok: boolean) => (ok ? "yes" : "**no**");
  const rows: string[][] = [];
  const slots = THROUGHPUT.slaves * THROUGHPUT.slotsPerSlave;

  if (has("dt tasks/s")) {
    rows.push([`1. throughput, ${THROUGHPUT.tasks} × \`true\`, ${THROUGHPUT.slaves} slaves × ${THROUGHPUT.slotsPerSlave} slots`, f("dt tasks/s", "tasks/s"), `\`xargs -P${slots}\` of the same commands`, f("xargs tasks/s", "tasks/s"), ratio(med("dt tasks/s") / med("xargs tasks/s"), "dt ÷ xargs"), "≥ 200 tasks/s", met(med("dt tasks/s") >= 200)]);
    rows.push(["1. per-task overhead, median over tasks", f("overhead median", "ms1"), "—", "—", "—", "< 10 ms", met(med("overhead median") < 10)]);
  }
  if (has("makespan history")) {
    const slotsM = MAKESPAN.slaves * MAKESPAN.slotsPerSlave;
    for (const label of ["no history", "history"]) {
      const target = label === "history" ? ["≤ 1.10", met(med(`makespan ratio ${label}`) <= 1.1)] : ["—", "—"];
      rows.push([`2. makespan, 200 sleeps, ${MAKESPAN.slaves} × ${slotsM / MAKESPAN.slaves} slots, ${label === "history" ? "with history (2nd submit)" : "no history (1st submit)"}`, f(`makespan ${label}`, "s"), "lower bound max(longest, sum ÷ 8)", f(`lower bound ${label}`, "s"), `makespan ÷ bound ${f(`makespan ratio ${label}`, "ratio")}`, ...target]);
    }
  }
  if (has("latency p50")) {
    rows.push([`3. dispatch latency p50, submit → command start (${LATENCY.jobs} jobs)`, f("latency p50", "ms1"), '`Bun.spawn(["true"])` to exit, p50', f("spawn p50", "ms1"), ratio(med("latency p50") / med("spawn p50"), "dt ÷ spawn"), "—", "—"]);
    rows.push([`3. dispatch latency p99`, f("latency p99", "ms1"), '`Bun.spawn(["true"])` to exit, p99', f("spawn p99", "ms1"), ratio(med("latency p99") / med("spawn p99"), "dt ÷ spawn"), "< 100 ms", met(med("latency p99") < 100)]);
  }
  if (has("submit big")) {
    const big = `${BIG_JOB.tasks / 1000}k`;
    const vs = (label: string, name: string, unit: Unit, baseLabel: string, base = `${name} small`) =>
      rows.push([`4. ${label}`, f(`${name} big`, unit), baseLabel, f(base, unit), ratio(med(`${name} big`) / med(base), "big ÷ small"), "—", "—"]);
    vs(`POST /api/v1/jobs, ${big} tasks (${f("big body MB", "ratio")} MB JSON)`, "submit", "ms", `${BIG_JOB.smallTasks}-task job`);
    vs(`master RSS after submitting the ${big} job`, "rss", "MiB", `after the ${BIG_JOB.smallTasks}-task job`);
    vs(`GET /api/v1/jobs/:id of the ${big} job, median of ${BIG_JOB.reads}`, "get", "ms1", `${BIG_JOB.smallTasks}-task job`);
    vs(`/job_status?job_id= of the ${big} job, median of ${BIG_JOB.reads}`, "job_status", "ms1", `${BIG_JOB.smallTasks}-task job`);
    rows.push([`4. GET of the ${BIG_JOB.smallTasks}-task job while the ${big} job is queued`, f("get small beside big", "ms1"), "the same before it", f("get small", "ms1"), ratio(med("get small beside big") / med("get small"), "beside ÷ alone"), "—", "—"]);
    rows.push([`4. master CPU with nothing running, ${big} tasks queued (CPU ms per s)`, f("idle cpu big", "ms"), `${BIG_JOB.smallTasks} tasks queued`, f("idle cpu small", "ms"), ratio(med("idle cpu big") / med("idle cpu small"), "big ÷ small"), "—", "—"]);
  }
  const main = markdownTable(["measurement", "dt (median)", "baseline", "baseline (median)", "ratio", "target", "met?"], rows);

  const detail: string[][] = [];
  if (has("dt tasks/s")) {
    const phaseCells = OVERHEAD_PHASES.map((p) => `${p.name} ${f(`phase median ${p.name}`, "ms1")} / ${f(`phase mean ${p.name}`, "ms1")}`);
    detail.push(["1. overhead phases, median / mean over tasks", phaseCells.join("; ")]);
    detail.push(["1. overhead, mean / p90; command (`true`) median", `${f("overhead mean", "ms1")} / ${f("overhead p90", "ms1")}; command ${f("command median", "ms1")}`]);
    detail.push(["1. slots", `lease→report mean ${f("lease→report mean", "ms1")}; slots busy ${f("slot busy share", "share")} of the span (the rest: a free slot waiting for its next lease)`]);
    detail.push(["1. CPU per task (user+sys)", `master ${f("cpu per task master", "cpu")}, slaves ${f("cpu per task slaves", "cpu")} (their own, the tasks' processes not included; ${f("cores used by master+slaves", "ratio")} cores busy); whole machine ${f("cpu per task machine", "cpu")}, ${f("machine busy share", "share")} of all cores busy; at 200 tasks/s master+slaves alone would need ${((200 * (med("cpu per task master") + med("cpu per task slaves"))) / 1000).toFixed(2)} cores`]);
    detail.push(["1. tasks/s as the bench saw it (submit → poll saw finished)", f("dt tasks/s (bench's view)", "tasks/s")]);
  }
  if (has("makespan history")) {
    detail.push(["2. last 5–10 s task started, after the first lease", `no history ${f("last long start no history", "s")}, history ${f("last long start history", "s")}; nominal lower bound ${f("nominal lower bound", "s")}`]);
  }
  if (has("latency p50")) {
    const cells = [...samplesNamed(samples, "latency phase p50 ")].map((name) => `${name} p50 ${f(`latency phase p50 ${name}`, "ms1")}, p99 ${f(`latency phase p99 ${name}`, "ms1")}`);
    detail.push(["3. dispatch phases", cells.join("; ")]);
    detail.push(["3. POST /api/v1/jobs round trip p50; slowest dispatch", `${f("latency POST p50", "ms1")}; max ${f("latency max", "ms1")}`]);
  }
  if (has("submit big")) {
    detail.push(["4. master RSS", `idle ${f("rss idle", "MiB")}, ${BIG_JOB.smallTasks} tasks ${f("rss small", "MiB")}, +${BIG_JOB.tasks / 1000}k tasks ${f("rss big", "MiB")}`]);
    detail.push(["4. /job_status of the 100-task job beside the big one", f("job_status small beside big", "ms1")]);
  }
  const details = markdownTable(["where the time went", "median over runs (min–max)"], detail);
  return `${main}\n\n${details}\n\nMedians of ${runsDone} run(s); min–max over runs in parentheses. Ratios are taken from the medians, except makespan ÷ bound (median of each run's ratio).`;
}

/** The names following `prefix` among the samples recorded, in recording order. */
function* samplesNamed(samples: Samples, prefix: string): Iterable<string> {
  for (const name of samples.names()) if (name.startsWith(prefix)) yield name.slice(prefix.length);
}
