/** `dt autoscale`'s flags: defaults per provider, and refusals that name the flag at fault. */
import { describe, expect, test } from "bun:test";
import { availableParallelism } from "node:os";
import { parseArgs } from "citty";
import { ManualClock } from "../../src/common/clock.ts";
import { Config } from "../../src/common/config.ts";
import { createLogger } from "../../src/common/log.ts";
import { autoscaleArgs, autoscaleSettings } from "../../src/commands/autoscale.ts";

const env = { HOME: "/nonexistent", DIST_TEST_MASTER: "http://master:8081" };
const ctx = { config: Config.load(env), log: createLogger({ level: "silent" }), clock: new ManualClock(), env };
const settings = (...argv: string[]) => autoscaleSettings(parseArgs(argv, autoscaleArgs), ctx);
const EXEC = ["--provider", "exec", "--exec-resize", "resize {count}"];

describe("dt autoscale flags", () => {
  test("local: the slaves' dimensions get this host's os and cpu, slots default to cores ÷ --max, a minute's boot grace", () => {
    const s = settings("--provider", "local", "--max", "2", "--dimensions", "pool=ci");
    expect(s.masterUrl).toBe("http://master:8081");
    expect(s.policy).toEqual({
      min: 0, max: 2, slotsPerSlave: Math.max(1, Math.floor(availableParallelism() / 2)), targetMs: 300_000, defaultTaskMs: 60_000, idleLagMs: 600_000, bootTimeoutMs: 60_000,
      dimensions: { os: process.platform, cpu: process.arch, pool: "ci" },
    });
    expect(s.provider).toMatchObject({ kind: "local", givenDimensions: { pool: "ci" } });
    expect(s.intervalMs).toBe(10_000);
  });

  test("exec: its slaves' dimensions as given, slots as they report, ten minutes' boot grace", () => {
    const s = settings(...EXEC, "--max", "100", "--slave-prefix", "dt-slaves-", "--target", "2m", "--idle-lag", "15m", "--default-task-duration", "90s");
    expect(s.policy).toMatchObject({ max: 100, slotsPerSlave: undefined, targetMs: 120_000, idleLagMs: 900_000, defaultTaskMs: 90_000, bootTimeoutMs: 600_000, dimensions: {} });
    expect(s.provider).toEqual({ kind: "exec", resize: "resize {count}", remove: undefined, prefix: "dt-slaves-", timeoutMs: 300_000 });
  });

  test("refusals name the flag and what to write", () => {
    const refused = (argv: string[], message: string) => expect(() => settings(...argv)).toThrow(message);
    refused(["--provider", "gce", "--max", "2"], '--provider: "gce" is not local or exec');
    refused(["--provider", "local", "--max", "2", "--min", "3"], "--min 3 --max 2: need 0 ≤ min ≤ max and max ≥ 1");
    refused(["--provider", "local", "--max", "0"], "need 0 ≤ min ≤ max and max ≥ 1");
    refused(["--provider", "local", "--max", "two"], '--max: "two" is not a whole number');
    refused(["--provider", "local", "--max", "2", "--slots", "0"], "--slots: must be at least 1");
    refused(["--provider", "local", "--max", "2", "--target", "0s"], "--target: \"0s\" must be longer than 0");
    refused(["--provider", "local", "--max", "2", "--idle-lag", "soon"], '--idle-lag: cannot read "soon" as a duration');
    refused(["--provider", "local", "--max", "2", "--once"], "--once with --provider local");
    refused(["--provider", "local", "--max", "2", "--exec-resize", "x {count}"], "--exec-resize is for --provider exec");
    refused(["--provider", "exec", "--max", "2", "--slave-prefix", "x"], "--provider exec needs --exec-resize");
    refused([...EXEC, "--max", "2"], "--provider exec needs --slave-prefix or --dimensions");
    refused(["--provider", "exec", "--exec-resize", "resize", "--max", "2", "--slave-prefix", "x"], "must contain {count}");
    refused([...EXEC, "--exec-remove", "delete", "--max", "2", "--slave-prefix", "x"], "must contain {name}");
  });
});
