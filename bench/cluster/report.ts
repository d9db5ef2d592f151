/**
 * The cluster bench's tables: each measurement with one column per backend
 * beside the baseline, the ratios and targets; then where dt's time went,
 * again one column per backend. Only measurements that were run get rows.
 * A baseline does not depend on the backend, so its samples from every
 * backend's runs are pooled; each backend's ratio is its median ÷ that.
 */
import { markdownTable, summarize, type Summary } from "../isolate/report.ts";
import { OVERHEAD_PHASES } from "./attempts.ts";
import { type BackendName, componentsOf } from "./backends.ts";
import { BIG_JOB } from "./big-job.ts";
import { SERVER_PREFIX } from "./cluster.ts";
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

/** One backend's samples, read by name. */
interface View {
  /**
   * The slaves reserve from beanstalkd and the master sets `leased_at` when
   * the first heartbeat claims the task, after the slave started it: spans
   * from `leased_at` leave out the reserve and are not comparable.
   */
  claimed: boolean;
  has(name: string): boolean;
  med(name: string): number;
  f(name: string, unit: Unit): string;
  names(): string[];
}

function view(samples: Samples | undefined, claimed: boolean): View {
  const s = (name: string) => summarize(samples?.get(name) ?? []);
  return {
    claimed,
    has: (name) => (samples?.get(name).length ?? 0) > 0,
    med: (name) => s(name).median,
    f: (name, unit) => formatSummary(s(name), unit),
    names: () => samples?.names() ?? [],
  };
}

type Measurement = "throughput" | "makespan" | "latency" | "big";

/** A row of the main table. */
interface Row {
  measurement: Measurement;
  label: string;
  value: string;
  unit: Unit;
  baseline?: { label: string; name: string; unit: Unit };
  /** What the ratio divides, and how a backend's is computed (by default its median ÷ the pooled baseline's). */
  ratio?: { how: string; of?: (v: View) => number };
  target?: { text: string; met: (v: View) => boolean };
  /** Measured from `leased_at`: marked † and not compared or judged where the lease is a claim (View.claimed). */
  fromLease?: boolean;
}

function mainRows(): Row[] {
  const slots = THROUGHPUT.slaves * THROUGHPUT.slotsPerSlave;
  const slotsM = MAKESPAN.slaves * MAKESPAN.slotsPerSlave;
  const big = `${BIG_JOB.tasks / 1000}k`;
  const bigVsSmall = (label: string, name: string, unit: Unit, baseLabel: string): Row => ({
    measurement: "big", label: `4. ${label}`, value: `${name} big`, unit, baseline: { label: baseLabel, name: `${name} small`, unit },
    ratio: { how: "big ÷ small", of: (v) => v.med(`${name} big`) / v.med(`${name} small`) },
  });
  return [
    {
      measurement: "throughput", label: `1. throughput, ${THROUGHPUT.tasks} × \`true\`, ${THROUGHPUT.slaves} slaves × ${THROUGHPUT.slotsPerSlave} slots`, value: "dt tasks/s", unit: "tasks/s",
      baseline: { label: `\`xargs -P${slots}\` of the same commands`, name: "xargs tasks/s", unit: "tasks/s" }, ratio: { how: "dt ÷ xargs" },
      target: { text: "≥ 200 tasks/s", met: (v) => v.med("dt tasks/s") >= 200 },
    },
    { measurement: "throughput", label: "1. per-task overhead, median over tasks", value: "overhead median", unit: "ms1", target: { text: "< 10 ms", met: (v) => v.med("overhead median") < 10 }, fromLease: true },
    ...(["no history", "history"] as const).map((label): Row => ({
      measurement: "makespan", label: `2. makespan, 200 sleeps, ${MAKESPAN.slaves} × ${slotsM / MAKESPAN.slaves} slots, ${label === "history" ? "with history (2nd submit)" : "no history (1st submit)"}`,
      value: `makespan ${label}`, unit: "s",
      baseline: { label: `lower bound max(longest, sum ÷ ${slotsM})`, name: `lower bound ${label}`, unit: "s" },
      // Each run's own bound: the commands' measured times differ a little from run to run.
      ratio: { how: "makespan ÷ bound (median of the runs' ratios)", of: (v) => v.med(`makespan ratio ${label}`) },
      target: label === "history" ? { text: "≤ 1.10", met: (v) => v.med("makespan ratio history") <= 1.1 } : undefined,
    })),
    {
      measurement: "latency", label: `3. dispatch latency p50, submit → command start (${LATENCY.jobs} jobs)`, value: "latency p50", unit: "ms1",
      baseline: { label: '`Bun.spawn(["true"])` to exit, p50', name: "spawn p50", unit: "ms1" }, ratio: { how: "dt ÷ spawn" },
    },
    {
      measurement: "latency", label: "3. dispatch latency p99", value: "latency p99", unit: "ms1",
      baseline: { label: '`Bun.spawn(["true"])` to exit, p99', name: "spawn p99", unit: "ms1" }, ratio: { how: "dt ÷ spawn" },
      target: { text: "< 100 ms", met: (v) => v.med("latency p99") < 100 },
    },
    bigVsSmall(`POST /api/v1/jobs, ${big} tasks`, "submit", "ms", `${BIG_JOB.smallTasks}-task job`),
    bigVsSmall(`master RSS after submitting the ${big} job`, "rss", "MiB", `after the ${BIG_JOB.smallTasks}-task job`),
    bigVsSmall(`GET /api/v1/jobs/:id of the ${big} job, median of ${BIG_JOB.reads}`, "get", "ms1", `${BIG_JOB.smallTasks}-task job`),
    bigVsSmall(`/job_status?job_id= of the ${big} job, median of ${BIG_JOB.reads}`, "job_status", "ms1", `${BIG_JOB.smallTasks}-task job`),
    {
      measurement: "big", label: `4. GET of the ${BIG_JOB.smallTasks}-task job while the ${big} job is queued`, value: "get small beside big", unit: "ms1",
      baseline: { label: "the same before it", name: "get small", unit: "ms1" },
      ratio: { how: "beside ÷ alone", of: (v) => v.med("get small beside big") / v.med("get small") },
    },
    {
      measurement: "big", label: `4. master CPU with nothing running, ${big} tasks queued (CPU ms per s)`, value: "idle cpu big", unit: "ms",
      baseline: { label: `${BIG_JOB.smallTasks} tasks queued`, name: "idle cpu small", unit: "ms" },
      ratio: { how: "big ÷ small", of: (v) => v.med("idle cpu big") / v.med("idle cpu small") },
    },
  ];
}

/** The rows of "where the time went": a label and one cell per backend. */
function detailRows(): { label: string; measurement: Measurement; cell: (v: View) => string; fromLease?: boolean }[] {
  return [
    {
      label: "1. overhead phases, median / mean over tasks", measurement: "throughput",
      cell: (v) => OVERHEAD_PHASES.map((p) => `${p.name} ${v.f(`phase median ${p.name}`, "ms1")} / ${v.f(`phase mean ${p.name}`, "ms1")}`).join("; "),
      fromLease: true,
    },
    { label: "1. overhead, mean / p90; command (`true`) median", measurement: "throughput", cell: (v) => `${v.f("overhead mean", "ms1")} / ${v.f("overhead p90", "ms1")}; command ${v.f("command median", "ms1")}`, fromLease: true },
    { label: "1. slots: lease→report mean; share of the span the slots were busy", measurement: "throughput", cell: (v) => `${v.f("lease→report mean", "ms1")}; busy ${v.f("slot busy share", "share")}`, fromLease: true },
    {
      label: "1. CPU per task (user+sys; the tasks' own processes not included)", measurement: "throughput",
      cell: (v) => {
        const servers = v.names().filter((n) => n.startsWith(`cpu per task ${SERVER_PREFIX}`));
        const serverCells = servers.map((n) => `${n.slice(`cpu per task ${SERVER_PREFIX}`.length)} ${v.f(n, "cpu")}`);
        return [`master ${v.f("cpu per task master", "cpu")}`, `slaves ${v.f("cpu per task slaves", "cpu")}`, ...serverCells, `whole machine ${v.f("cpu per task machine", "cpu")} (${v.f("machine busy share", "share")} of all cores busy; master+slaves ${v.f("cores used by master+slaves", "ratio")} cores)`].join(", ");
      },
    },
    { label: "1. tasks/s as the bench saw it (submit → poll saw finished)", measurement: "throughput", cell: (v) => v.f("dt tasks/s (bench's view)", "tasks/s") },
    {
      label: "2. last 5–10 s task started, after the first lease (nominal bound 18.71 s)", measurement: "makespan",
      cell: (v) => `no history ${v.f("last long start no history", "s")}, history ${v.f("last long start history", "s")}`,
    },
    {
      label: "3. dispatch phases, p50 / p99", measurement: "latency",
      cell: (v) => v.names().filter((n) => n.startsWith("latency phase p50 ")).map((n) => n.slice("latency phase p50 ".length))
        .map((phase) => `${phase} ${v.f(`latency phase p50 ${phase}`, "ms1")} / ${v.f(`latency phase p99 ${phase}`, "ms1")}`).join("; "),
      fromLease: true,
    },
    { label: "3. POST /api/v1/jobs round trip p50; slowest dispatch", measurement: "latency", cell: (v) => `${v.f("latency POST p50", "ms1")}; max ${v.f("latency max", "ms1")}` },
    { label: "4. master RSS: idle, 100 tasks, +100k tasks", measurement: "big", cell: (v) => `${v.f("rss idle", "MiB")}, ${v.f("rss small", "MiB")}, ${v.f("rss big", "MiB")}` },
    { label: "4. the 100k job's JSON body, MB", measurement: "big", cell: (v) => v.f("big body MB", "ratio") },
    { label: "4. /job_status of the 100-task job beside the big one", measurement: "big", cell: (v) => v.f("job_status small beside big", "ms1") },
  ];
}

/** A sample each measurement records when it completes, to tell a backend's detail cells from "not run". */
const COMPLETED: Record<Measurement, string> = { throughput: "dt tasks/s", makespan: "makespan history", latency: "latency p50", big: "submit big" };

/**
 * `failed` holds "<measurement> on <backend>" for each that threw; its cells
 * read "failed" (the caller prints why), the cells of one not asked for "not run".
 */
export function resultTables(byBackend: ReadonlyMap<BackendName, Samples>, failed: ReadonlySet<string>, runsDone: number): string {
  const backends = [...byBackend.keys()];
  const views = backends.map((b) => view(byBackend.get(b), componentsOf(b)?.beanstalkd ?? false));
  const dagger = (claimedHere: boolean, text: string) => (claimedHere ? `${text} †` : text);
  const pooled = (name: string) => summarize(backends.flatMap((b) => byBackend.get(b)!.get(name)));
  const didFail = (m: Measurement, i: number) => failed.has(`${m} on ${backends[i]}`);
  const missing = (m: Measurement, i: number) => (didFail(m, i) ? "failed" : "not run");
  const num = (x: number) => (Number.isFinite(x) ? x.toFixed(2) : "n/a");
  // Every other backend against embedded, when embedded ran.
  const embedded = view(byBackend.get("embedded"), false);
  const compared = backends.includes("embedded") ? backends.filter((b) => b !== "embedded") : [];

  const shownRows = mainRows().filter((r) => views.some((v, i) => v.has(r.value) || didFail(r.measurement, i)));
  const rows = shownRows.map((r) => {
    const base = r.baseline && pooled(r.baseline.name);
    const notComparable = (v: View) => r.fromLease === true && v.claimed;
    const ratioOf = (v: View) => {
      if (!r.ratio || !v.has(r.value) || notComparable(v)) return "—";
      return num(r.ratio.of ? r.ratio.of(v) : v.med(r.value) / base!.median);
    };
    const met = r.target ? views.map((v) => (v.has(r.value) && !notComparable(v) ? (r.target!.met(v) ? "yes" : "**no**") : "—")).join(" / ") : "—";
    return [
      r.label,
      ...views.map((v, i) => (v.has(r.value) ? dagger(notComparable(v), v.f(r.value, r.unit)) : missing(r.measurement, i))),
      r.baseline?.label ?? "—",
      base && base.n > 0 ? formatSummary(base, r.baseline!.unit) : "—",
      r.ratio?.how ?? "—",
      ...views.map(ratioOf),
      ...compared.map((b) => {
        const other = views[backends.indexOf(b)]!;
        return embedded.has(r.value) && other.has(r.value) && !notComparable(other) ? num(other.med(r.value) / embedded.med(r.value)) : "—";
      }),
      r.target?.text ?? "—",
      met,
    ];
  });
  const header = [
    "measurement", ...backends.map((b) => `${b} (median)`), "baseline", "baseline (median, all runs)", "ratio is",
    ...backends.map((b) => `ratio, ${b}`), ...compared.map((b) => `${b} ÷ embedded`), "target", `met? (${backends.join(" / ")})`,
  ];
  const main = markdownTable(header, rows);

  const shownDetails = detailRows().filter((d) => shownRows.some((r) => r.measurement === d.measurement));
  const details = markdownTable(
    ["where the time went", ...backends.map((b) => `${b}: median over runs (min–max)`)],
    shownDetails.map((d) => [d.label, ...views.map((v, i) => (v.has(COMPLETED[d.measurement]) ? dagger(d.fromLease === true && v.claimed, d.cell(v)) : missing(d.measurement, i)))]),
  );
  const daggerNote = views.some((v) => v.claimed)
    ? "\n\n† On beanstalkd a slave reserves its task from a tube and starts it; the master sets `leased_at` when the slave's first heartbeat claims it, a few ms later. Spans from `leased_at` (per-task overhead, its phases, slot busy share, queued→leased and leased→fetch_done) therefore leave out the reserve and part of the start (leased→fetch_done can be negative): they are not compared with embedded nor judged against the target. tasks/s and dispatch latency do not depend on `leased_at`; makespan starts at the first one, a few ms late."
    : "";
  return `${main}\n\n${details}\n\nMedians of ${runsDone} run(s); min–max over runs in parentheses. Baselines pool the samples of every backend's runs; ratios are taken from the medians, except makespan ÷ bound (median of each run's ratio).${daggerNote}`;
}
