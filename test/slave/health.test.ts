import { describe, expect, test } from "bun:test";
import { ManualClock } from "../../src/common/clock.ts";
import { createLogger } from "../../src/common/log.ts";
import { SlaveHealth } from "../../src/slave/health.ts";

const log = createLogger({ level: "silent" });
const GiB = 2 ** 30;

function health(options: { free?: Record<string, number>; maxInfraFailures?: number; infraCooldownMs?: number } = {}) {
  const clock = new ManualClock();
  const free: Record<string, number> = { "/cache": 10 * GiB, "/runs": 10 * GiB, ...options.free };
  const h = new SlaveHealth({
    paths: Object.keys(free),
    limits: { minFreeBytes: GiB, maxInfraFailures: options.maxInfraFailures ?? 3, infraCooldownMs: options.infraCooldownMs ?? 60_000 },
    clock,
    log,
    freeBytes: async (path) => {
      const bytes = free[path];
      if (bytes === undefined) throw new Error(`ENOENT: ${path}`);
      return bytes;
    },
  });
  let changes = 0;
  h.onChange(() => changes++);
  return { h, clock, free, changes: () => changes };
}

describe("SlaveHealth", () => {
  test("a short disk quarantines the slave, naming the path and the figures; room again lifts it", async () => {
    const { h, free, changes } = health();
    await h.checkDisk();
    expect(h.hold()).toBeUndefined();
    free["/runs"] = 300 * 2 ** 20;
    await h.checkDisk();
    expect(h.hold()).toMatchObject({ kind: "quarantine", by: "self" });
    expect(h.hold()!.reason).toBe("disk: /runs has 300.0 MiB free, under the 1.0 GiB a task needs");
    expect(changes()).toBe(1);
    // Checked again while still short: no new event, the same hold.
    await h.checkDisk();
    expect(changes()).toBe(1);
    free["/runs"] = 5 * GiB;
    await h.checkDisk();
    expect(h.hold()).toBeUndefined();
    expect(changes()).toBe(2);
  });

  test("a path that cannot be checked counts as short", async () => {
    const { h } = health();
    (h as unknown as { o: { paths: string[] } }).o.paths.push("/gone");
    await h.checkDisk();
    expect(h.hold()?.reason).toContain("/gone cannot be checked (ENOENT: /gone)");
  });

  test("N infrastructure failures in a row quarantine it; a test that ran resets the count; aborts by the slave do not count", () => {
    const { h } = health({ maxInfraFailures: 3 });
    h.attemptEnded("INFRA_FAILED", "fetch failed", undefined);
    h.attemptEnded("INFRA_FAILED", "fetch failed", undefined);
    h.attemptEnded("FAILED", null, undefined);
    h.attemptEnded("INFRA_FAILED", "fetch failed", undefined);
    h.attemptEnded("INFRA_FAILED", "drained", "drain");
    h.attemptEnded("INFRA_FAILED", "dropped", "unknown");
    h.attemptEnded("CANCELED", null, "cancel");
    h.attemptEnded("INFRA_FAILED", "spawn failed", undefined);
    expect(h.hold()).toBeUndefined();
    h.attemptEnded("INFRA_FAILED", "the slave could not start ./t: EAGAIN", undefined);
    expect(h.hold()).toMatchObject({ kind: "quarantine", by: "self", reason: "3 infrastructure failures in a row; the last: the slave could not start ./t: EAGAIN" });
  });

  test("the infrastructure quarantine lifts after the cooldown, or at once on resume; 0 keeps it until resumed", () => {
    const { h, clock } = health({ maxInfraFailures: 1, infraCooldownMs: 60_000 });
    h.attemptEnded("INFRA_FAILED", "x", undefined);
    clock.advance(59_999);
    expect(h.hold()).toBeDefined();
    clock.advance(1);
    expect(h.hold()).toBeUndefined();
    // The count starts again from zero.
    h.attemptEnded("INFRA_FAILED", "x", undefined);
    expect(h.hold()).toBeDefined();
    h.command({ action: "resume", reason: "fixed the NFS mount" });
    expect(h.hold()).toBeUndefined();

    const forever = health({ maxInfraFailures: 1, infraCooldownMs: 0 });
    forever.h.attemptEnded("INFRA_FAILED", "x", undefined);
    forever.clock.advance(365 * 86_400_000);
    expect(forever.h.hold()).toBeDefined();
  });

  test("an operator's drain or quarantine holds until resumed, and comes before the slave's own reasons", async () => {
    const { h, free, clock, changes } = health();
    free["/cache"] = 0;
    await h.checkDisk();
    h.command({ action: "quarantine", reason: "bad RAM, ticket 123" });
    expect(h.hold()).toEqual({ kind: "quarantine", by: "operator", reason: "bad RAM, ticket 123", since: clock.now() });
    // Repeated (the master resends until the slave reports it): no second event.
    const before = changes();
    h.command({ action: "quarantine", reason: "bad RAM, ticket 123" });
    expect(changes()).toBe(before);
    h.command({ action: "drain", reason: "reboot" });
    expect(h.hold()).toMatchObject({ kind: "drain", by: "operator" });
    h.command({ action: "resume", reason: "back" });
    // The disk is still short: the slave's own quarantine comes back at its check.
    await h.checkDisk();
    expect(h.hold()).toMatchObject({ kind: "quarantine", by: "self" });
    free["/cache"] = 10 * GiB;
    await h.checkDisk();
    expect(h.hold()).toBeUndefined();
  });
});
