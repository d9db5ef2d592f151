import { describe, expect, test } from "bun:test";
import { isTubeName } from "../../src/master/queue/beanstalk-client.ts";
import { anyTube, beanstalkPriority, dimensionsOfTube, tubeFor, tubesForSlave } from "../../src/master/queue/tubes.ts";

describe("beanstalkd tubes per dimension set", () => {
  test("a dimension set names one valid tube whatever its order, and reads back from it", () => {
    const dims = { pool: "gpu", os: "linux", "cpu/arch": "x86_64 (v3)" };
    const tube = tubeFor("dt", dims);
    expect(isTubeName(tube)).toBe(true);
    expect(tubeFor("dt", { os: "linux", "cpu/arch": "x86_64 (v3)", pool: "gpu" })).toBe(tube);
    expect(dimensionsOfTube("dt", tube)).toEqual(dims);
    expect(tubeFor("dt", {})).toBe("dt.any");
    expect(dimensionsOfTube("dt", "dt.any")).toEqual({});
  });

  test("tubes of other prefixes and garbage names are not dimension sets", () => {
    expect(dimensionsOfTube("dt", tubeFor("other", { os: "linux" }))).toBeNull();
    expect(dimensionsOfTube("dt", "default")).toBeNull();
    expect(dimensionsOfTube("dt", "dt.d.!!!")).toBeNull();
    expect(dimensionsOfTube("dt", `dt.d.${Buffer.from('{"a":1}').toString("base64")}`)).toBeNull();
  });

  test("a slave watches the any-tube and the tubes whose sets it covers, nothing else", () => {
    const tubes = ["default", tubeFor("dt", { os: "linux" }), tubeFor("dt", { os: "linux", pool: "gpu" }), tubeFor("dt", { os: "mac" }), tubeFor("x", {})];
    expect(tubesForSlave("dt", tubes, { os: "linux", cpu: "x64" }).sort()).toEqual([anyTube("dt"), tubeFor("dt", { os: "linux" })].sort());
    expect(tubesForSlave("dt", tubes, { os: "linux", pool: "gpu" }).sort()).toEqual([anyTube("dt"), tubeFor("dt", { os: "linux" }), tubeFor("dt", { os: "linux", pool: "gpu" })].sort());
  });

  test("dimension sets too long for a tube name are refused with the reason", () => {
    expect(() => tubeFor("dt", { k: "v".repeat(200) })).toThrow(/too long to name a beanstalkd tube/);
  });

  test("priorities: retries first, then higher task priority, then longer expected duration; all within beanstalkd's range", () => {
    const p = (isRetry: boolean, priority: number, expectedMs: number) => beanstalkPriority({ isRetry, priority, expectedMs });
    expect(p(true, -1000, 0)).toBeLessThan(p(false, 1000, 10 ** 12));
    expect(p(false, 5, 0)).toBeLessThan(p(false, 4, 10 ** 9));
    expect(p(false, 0, 60_000)).toBeLessThan(p(false, 0, 1_000));
    for (const v of [p(true, 10 ** 6, 10 ** 15), p(false, -(10 ** 6), 0), p(false, 0, -5)]) {
      expect(Number.isInteger(v) && v >= 0 && v < 2 ** 32).toBe(true);
    }
  });
});
