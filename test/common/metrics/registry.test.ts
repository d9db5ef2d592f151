import { describe, expect, test } from "bun:test";
import { isDtError } from "../../../src/common/errors.ts";
import { escapeLabelValue, formatValue, PROMETHEUS_CONTENT_TYPE, Registry } from "../../../src/common/metrics/registry.ts";
import { expectPromtoolAccepts, promtoolMissing } from "./promtool.ts";

const NO_PROMTOOL = promtoolMissing("test/common/metrics/registry.test.ts");

/** A registry with one of everything, labels needing every escape included. */
function everything(): Registry {
  const r = new Registry();
  const c = r.counter({ name: "dt_things_total", help: "Things done.\nSecond line with a \\ backslash.", labelNames: ["kind"] });
  c.with({ kind: 'quote " backslash \\ newline \n end' }).inc();
  c.with({ kind: "plain" }).inc(2.5);
  r.counter({ name: "dt_plain_total", help: "No labels." }).inc();
  r.gauge({ name: "dt_level", help: "Set." }).set(-3);
  r.gauge({ name: "dt_collected_bytes", help: "Read at scrape time.", labelNames: ["disk"], collect: () => [{ labels: { disk: "a" }, value: 1e21 }, { labels: { disk: "b" }, value: Number.NaN }] });
  const h = r.histogram({ name: "dt_wait_seconds", help: "Waits.", labelNames: ["phase"], buckets: [0.1, 1, 10] });
  for (const v of [0.05, 0.1, 0.5, 5, 50]) h.with({ phase: "queue" }).observe(v);
  r.histogram({ name: "dt_empty_seconds", help: "Never observed.", buckets: [1] });
  return r;
}

describe("text format", () => {
  test("content type is the 0.0.4 text format", () => {
    expect(PROMETHEUS_CONTENT_TYPE).toBe("text/plain; version=0.0.4; charset=utf-8");
  });

  test("counters, gauges and collected gauges: HELP and TYPE, then samples with escaped labels", async () => {
    const text = await everything().metrics();
    const lines = text.split("\n");
    expect(lines.slice(0, 5)).toEqual([
      "# HELP dt_things_total Things done.\\nSecond line with a \\\\ backslash.",
      "# TYPE dt_things_total counter",
      'dt_things_total{kind="quote \\" backslash \\\\ newline \\n end"} 1',
      'dt_things_total{kind="plain"} 2.5',
      "# HELP dt_plain_total No labels.",
    ]);
    expect(lines).toContain("dt_level -3");
    expect(lines).toContain('dt_collected_bytes{disk="a"} 1e+21');
    expect(lines).toContain('dt_collected_bytes{disk="b"} NaN');
    expect(text.endsWith("\n")).toBe(true);
  });

  test("a histogram: cumulative buckets with le after the metric's labels, +Inf, _sum and _count", async () => {
    const lines = (await everything().metrics()).split("\n");
    const start = lines.indexOf("# TYPE dt_wait_seconds histogram");
    expect(lines.slice(start + 1, start + 7)).toEqual([
      'dt_wait_seconds_bucket{phase="queue",le="0.1"} 2',
      'dt_wait_seconds_bucket{phase="queue",le="1"} 3',
      'dt_wait_seconds_bucket{phase="queue",le="10"} 4',
      'dt_wait_seconds_bucket{phase="queue",le="+Inf"} 5',
      'dt_wait_seconds_sum{phase="queue"} 55.65',
      'dt_wait_seconds_count{phase="queue"} 5',
    ]);
    const empty = new Registry();
    empty.histogram({ name: "h_seconds", help: "h", buckets: [1] }).observe(2);
    expect(await empty.metrics()).toContain('h_seconds_bucket{le="1"} 0\nh_seconds_bucket{le="+Inf"} 1\nh_seconds_sum 2\nh_seconds_count 1\n');
  });

  test("escaping and number formatting alone", () => {
    expect(escapeLabelValue('a\\b"c\nd')).toBe('a\\\\b\\"c\\nd');
    expect([Infinity, -Infinity, NaN, 0, 0.05, 3600].map(formatValue)).toEqual(["+Inf", "-Inf", "NaN", "0", "0.05", "3600"]);
  });

  test("a failing collect costs only its own samples, as a comment; so does a failing hook", async () => {
    const r = new Registry();
    r.beforeCollect(() => {
      throw new Error("hook broke");
    });
    r.gauge({ name: "dt_broken", help: "b", collect: () => Promise.reject(new Error("disk gone\nreally")) });
    r.gauge({ name: "dt_fine", help: "f" }).set(1);
    const text = await r.metrics();
    expect(text).toContain("# a collect hook: collecting failed: hook broke\n");
    expect(text).toContain("# dt_broken: collecting failed: disk gone really\n");
    expect(text).toContain("dt_fine 1\n");
  });

  test("reset forgets label sets; beforeCollect hooks run before gauges are read", async () => {
    const r = new Registry();
    const g = r.gauge({ name: "dt_sets", help: "s", labelNames: ["k"] });
    let n = 0;
    r.beforeCollect(() => {
      g.reset();
      g.with({ k: `v${++n}` }).set(n);
    });
    expect(await r.metrics()).toContain('dt_sets{k="v1"} 1\n');
    const second = await r.metrics();
    expect(second).toContain('dt_sets{k="v2"} 2\n');
    expect(second).not.toContain("v1");
  });

  test.skipIf(!!NO_PROMTOOL)(`promtool check metrics accepts the output${NO_PROMTOOL ? ` [skipped: ${NO_PROMTOOL}]` : ""}`, async () => {
    await expectPromtoolAccepts(await everything().metrics());
  });
});

describe("misuse is a DtError internal, at once", () => {
  const code = (fn: () => unknown) => {
    try {
      fn();
    } catch (err) {
      return isDtError(err) ? err.code : String(err);
    }
    return "no error";
  };

  test("names, labels, buckets, duplicates, counters going down", () => {
    const r = new Registry();
    expect(code(() => r.counter({ name: "dt-bad", help: "x" }))).toBe("internal");
    expect(code(() => r.counter({ name: "dt_x_total", help: "x", labelNames: ["__reserved"] }))).toBe("internal");
    expect(code(() => r.histogram({ name: "dt_h", help: "x", labelNames: ["le"], buckets: [1] }))).toBe("internal");
    expect(code(() => r.histogram({ name: "dt_h", help: "x", buckets: [1, 1] }))).toBe("internal");
    expect(code(() => r.histogram({ name: "dt_h", help: "x", buckets: [] }))).toBe("internal");
    const c = r.counter({ name: "dt_c_total", help: "x", labelNames: ["a"] });
    expect(code(() => r.counter({ name: "dt_c_total", help: "again" }))).toBe("internal");
    expect(code(() => c.with({}))).toBe("internal");
    expect(code(() => c.with({ a: "1", b: "2" }))).toBe("internal");
    expect(code(() => c.with({ a: "1" }).inc(-1))).toBe("internal");
    expect(code(() => c.with({ a: "1" }).inc(Number.NaN))).toBe("internal");
  });
});
