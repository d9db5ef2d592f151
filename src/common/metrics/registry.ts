/**
 * Metrics in Prometheus's text exposition format (version 0.0.4), without a
 * dependency: counters, gauges (set, or collected from a callback at scrape
 * time) and fixed-bucket histograms, with labels. One Registry per server;
 * nothing here is module state.
 *
 * @example
 *   const registry = new Registry();
 *   const requests = registry.counter({ name: "dt_http_requests_total", help: "HTTP requests answered.", labelNames: ["route", "status"] });
 *   requests.with({ route: "/healthz", status: "200" }).inc();
 *   registry.gauge({ name: "dt_queued_tasks", help: "Tasks waiting.", collect: () => [{ value: queue.size }] });
 *   new Response(await registry.metrics(), { headers: { "Content-Type": PROMETHEUS_CONTENT_TYPE } });
 */
import { DtError } from "../errors.ts";

/** What a scrape is answered with (Prometheus's text format 0.0.4). */
export const PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

export type Labels = Readonly<Record<string, string>>;

/** One value of a collected gauge. */
export interface Sample {
  labels?: Labels;
  value: number;
}

export interface MetricOptions {
  /** `[a-zA-Z_:][a-zA-Z0-9_:]*`; by convention with its unit (`_seconds`, `_bytes`) and `_total` for a counter. */
  name: string;
  /** One line saying what is counted; shown by Prometheus and Grafana. */
  help: string;
  /** The labels every sample carries, all of them, in this order. */
  labelNames?: readonly string[];
}

type Kind = "counter" | "gauge" | "histogram";

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/** A label value as the text format quotes it: backslash, double quote and line feed escaped. */
export function escapeLabelValue(value: string): string {
  return value.replace(/[\\"\n]/g, (c) => (c === "\n" ? "\\n" : `\\${c}`));
}

/** HELP text escapes only backslash and line feed. */
function escapeHelp(help: string): string {
  return help.replace(/[\\\n]/g, (c) => (c === "\n" ? "\\n" : "\\\\"));
}

/** A sample value: Go's float syntax, which JavaScript's own matches except for the infinities and NaN. */
export function formatValue(value: number): string {
  if (Number.isNaN(value)) return "NaN";
  if (value === Number.POSITIVE_INFINITY) return "+Inf";
  if (value === Number.NEGATIVE_INFINITY) return "-Inf";
  return String(value);
}

/** A failed reading, as a comment line (valid anywhere in the text format). */
function commentOfFailure(what: string, err: unknown): string {
  return `# ${what}: collecting failed: ${String(err instanceof Error ? err.message : err).replace(/\n/g, " ")}`;
}

/** `{a="1",b="2"}`, or "" for no labels. */
function renderLabels(names: readonly string[], labels: Labels): string {
  if (names.length === 0) return "";
  return `{${names.map((n) => `${n}="${escapeLabelValue(labels[n] ?? "")}"`).join(",")}}`;
}

/** What every metric kind shares: name, help, label names, and one child per label set, made on first use. */
abstract class Metric<Child> {
  readonly name: string;
  readonly labelNames: readonly string[];
  private readonly children = new Map<string, { labels: string; child: Child }>();

  constructor(readonly kind: Kind, private readonly options: MetricOptions) {
    if (!METRIC_NAME.test(options.name)) throw new DtError("internal", `metric name ${JSON.stringify(options.name)} is not [a-zA-Z_:][a-zA-Z0-9_:]*`);
    this.name = options.name;
    this.labelNames = options.labelNames ?? [];
    for (const label of this.labelNames) {
      if (!LABEL_NAME.test(label) || label.startsWith("__")) throw new DtError("internal", `metric ${this.name}: label name ${JSON.stringify(label)} is not [a-zA-Z_][a-zA-Z0-9_]* (or starts with __, which Prometheus reserves)`);
    }
  }

  /** The child for one set of label values (every declared label, no other). */
  with(labels: Labels): Child {
    const values = this.labelNames.map((n) => labels[n]);
    const key = values.length === 0 ? "" : JSON.stringify(values);
    let entry = this.children.get(key);
    if (!entry) {
      const given = Object.keys(labels);
      if (values.some((v) => typeof v !== "string") || given.length !== this.labelNames.length) {
        throw new DtError("internal", `metric ${this.name}: labels ${JSON.stringify(labels)} do not match its label names [${this.labelNames.join(", ")}]`);
      }
      entry = { labels: renderLabels(this.labelNames, labels), child: this.newChild() };
      this.children.set(key, entry);
    }
    return entry.child;
  }

  /** Forgets every label set, e.g. before setting the ones that exist now. */
  reset(): void {
    this.children.clear();
  }

  protected abstract newChild(): Child;
  protected abstract renderChild(labels: string, child: Child, out: string[]): void;

  /** The HELP and TYPE lines, then the samples. */
  async render(out: string[]): Promise<void> {
    out.push(`# HELP ${this.name} ${escapeHelp(this.options.help)}`, `# TYPE ${this.name} ${this.kind}`);
    await this.renderSamples(out);
  }

  protected async renderSamples(out: string[]): Promise<void> {
    for (const { labels, child } of this.children.values()) this.renderChild(labels, child, out);
  }
}

export class CounterChild {
  value = 0;
  inc(by = 1): void {
    if (!(by >= 0)) throw new DtError("internal", `a counter only goes up; inc(${by})`);
    this.value += by;
  }
}

/** A count that only goes up (restarting at 0 with the process); name it `..._total`. */
export class Counter extends Metric<CounterChild> {
  constructor(options: MetricOptions) {
    super("counter", options);
  }
  /** For a counter without labels. */
  inc(by = 1): void {
    this.with({}).inc(by);
  }
  protected newChild(): CounterChild {
    return new CounterChild();
  }
  protected renderChild(labels: string, child: CounterChild, out: string[]): void {
    out.push(`${this.name}${labels} ${formatValue(child.value)}`);
  }
}

export class GaugeChild {
  value = 0;
  set(value: number): void {
    this.value = value;
  }
  inc(by = 1): void {
    this.value += by;
  }
}

export interface GaugeOptions extends MetricOptions {
  /** Reads the values at scrape time (then `set` is not used): one sample per label set, in the order given. */
  collect?: () => readonly Sample[] | Promise<readonly Sample[]>;
}

/** A value that goes up and down: set by the code, or read at each scrape from `collect`. */
export class Gauge extends Metric<GaugeChild> {
  constructor(private readonly gaugeOptions: GaugeOptions) {
    super("gauge", gaugeOptions);
  }
  /** For a gauge without labels. */
  set(value: number): void {
    this.with({}).set(value);
  }
  protected newChild(): GaugeChild {
    return new GaugeChild();
  }
  protected renderChild(labels: string, child: GaugeChild, out: string[]): void {
    out.push(`${this.name}${labels} ${formatValue(child.value)}`);
  }
  protected override async renderSamples(out: string[]): Promise<void> {
    const { collect } = this.gaugeOptions;
    if (!collect) return super.renderSamples(out);
    let samples: readonly Sample[];
    try {
      samples = await collect();
    } catch (err) {
      // One failed reading (a removed directory, say) must not cost the scrape every other metric; a comment is valid text format.
      out.push(commentOfFailure(this.name, err));
      return;
    }
    for (const s of samples) out.push(`${this.name}${renderLabels(this.labelNames, s.labels ?? {})} ${formatValue(s.value)}`);
  }
}

export class HistogramChild {
  /** Observations per bucket, not cumulative; the last is +Inf. */
  readonly counts: number[];
  sum = 0;
  count = 0;
  constructor(private readonly bounds: readonly number[]) {
    this.counts = new Array<number>(bounds.length + 1).fill(0);
  }
  observe(value: number): void {
    let i = 0;
    while (i < this.bounds.length && value > this.bounds[i]!) i++;
    this.counts[i]!++;
    this.sum += value;
    this.count++;
  }
}

export interface HistogramOptions extends MetricOptions {
  /** Upper bounds, ascending; +Inf is added. */
  buckets: readonly number[];
}

/** Observations counted into fixed buckets, with their sum and count (`_bucket{le}`, `_sum`, `_count`). */
export class Histogram extends Metric<HistogramChild> {
  private readonly bounds: readonly number[];
  private readonly les: readonly string[];

  constructor(options: HistogramOptions) {
    super("histogram", options);
    if (this.labelNames.includes("le")) throw new DtError("internal", `histogram ${this.name}: "le" is the bucket label and cannot be one of its own`);
    const sorted = options.buckets.every((b, i) => Number.isFinite(b) && (i === 0 || b > options.buckets[i - 1]!));
    if (options.buckets.length === 0 || !sorted) throw new DtError("internal", `histogram ${this.name}: buckets must be finite and strictly ascending`);
    this.bounds = [...options.buckets];
    this.les = [...this.bounds.map(formatValue), "+Inf"];
  }
  /** For a histogram without labels. */
  observe(value: number): void {
    this.with({}).observe(value);
  }
  protected newChild(): HistogramChild {
    return new HistogramChild(this.bounds);
  }
  protected renderChild(labels: string, child: HistogramChild, out: string[]): void {
    // The bucket label goes after the metric's own: `{route="/x",le="0.5"}`.
    const open = labels === "" ? "{" : `${labels.slice(0, -1)},`;
    let cumulative = 0;
    for (let i = 0; i < this.les.length; i++) {
      cumulative += child.counts[i]!;
      out.push(`${this.name}_bucket${open}le="${this.les[i]}"} ${cumulative}`);
    }
    out.push(`${this.name}_sum${labels} ${formatValue(child.sum)}`, `${this.name}_count${labels} ${child.count}`);
  }
}

/**
 * The metrics of one process, rendered in registration order. `beforeCollect`
 * hooks run first at each scrape, for work several collected gauges share.
 */
export class Registry {
  private readonly byName = new Map<string, Metric<unknown>>();
  private readonly hooks: (() => void | Promise<void>)[] = [];

  counter(options: MetricOptions): Counter {
    return this.add(new Counter(options));
  }
  gauge(options: GaugeOptions): Gauge {
    return this.add(new Gauge(options));
  }
  histogram(options: HistogramOptions): Histogram {
    return this.add(new Histogram(options));
  }

  /** Runs `hook` at the start of every scrape, before any gauge is collected. */
  beforeCollect(hook: () => void | Promise<void>): void {
    this.hooks.push(hook);
  }

  /** The whole exposition, ending with a line feed. */
  async metrics(): Promise<string> {
    const out: string[] = [];
    for (const hook of this.hooks) {
      try {
        await hook();
      } catch (err) {
        out.push(commentOfFailure("a collect hook", err));
      }
    }
    for (const metric of this.byName.values()) await metric.render(out);
    out.push("");
    return out.join("\n");
  }

  private add<M extends Metric<unknown>>(metric: M): M {
    if (this.byName.has(metric.name)) throw new DtError("internal", `metric ${metric.name} is registered twice`);
    this.byName.set(metric.name, metric);
    return metric;
  }
}
