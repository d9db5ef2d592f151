/**
 * The autoscaler on a master with accounts: with the configured account
 * its decisions and drains are taken; without it each failure is logged and
 * the autoscaler goes on.
 */
import { describe, expect, test } from "bun:test";
import { ha1 } from "../../src/common/auth/digest.ts";
import { digestFetch } from "../../src/common/auth/digest-fetch.ts";
import { IpRanges } from "../../src/common/auth/ip-ranges.ts";
import type { AuthPolicy } from "../../src/common/auth/policy.ts";
import { ManualClock } from "../../src/common/clock.ts";
import { useTestBed } from "./harness.ts";

const setup = useTestBed();

/** Writes need alice's password from every address, loopback included; reads stay open. */
const ACCOUNTS_ONLY: AuthPolicy = {
  allowedRanges: IpRanges.none(),
  accounts: new Map([["alice", { MD5: ha1("MD5", "alice", "s3cret"), "SHA-256": ha1("SHA-256", "alice", "s3cret") }]]),
  readRequiresAuth: false,
  trustedProxies: IpRanges.none(),
};
const ALICE = { DIST_TEST_USER: "alice", DIST_TEST_PASSWORD: "s3cret" };
const FLAGS = ["--provider", "exec", "--exec-resize", "true {count}", "--slave-prefix", "exec-", "--max", "2", "--idle-lag", "1m"];

describe("dt autoscale on a master with accounts", () => {
  test("with the configured account: decisions posted, idle slaves drained", async () => {
    const bed = await setup({ auth: ACCOUNTS_ONLY });
    const asAlice = digestFetch({ user: "alice", password: "s3cret" });
    const registered = await asAlice(`${bed.url}/api/v1/slave/lease`, {
      method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ slave: { name: "exec-a", dimensions: {}, slots: 1, version: "test" }, free: 0, wait_ms: 0 }),
    });
    expect(registered.status).toBe(200);
    const clock = new ManualClock(Date.now());
    const { scaler } = bed.autoscaler(FLAGS, clock, ALICE);
    expect((await scaler.tick())!.decision.action).toBe("hold");
    clock.advance(60_000);
    expect((await scaler.tick())!).toMatchObject({ done: true, decision: { action: "drain", slaves: ["exec-a"] } });
    expect((await bed.decisions()).map((d) => d.action)).toEqual(["drain", "hold"]);
    expect((await bed.slaves())[0]!.pending_command?.action).toBe("drain");
  });

  test("without it: the post and the drain fail, logged, and the next tick tries again", async () => {
    const bed = await setup({ auth: ACCOUNTS_ONLY });
    await digestFetch({ user: "alice", password: "s3cret" })(`${bed.url}/api/v1/slave/lease`, {
      method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ slave: { name: "exec-a", dimensions: {}, slots: 1, version: "test" }, free: 0, wait_ms: 0 }),
    });
    const clock = new ManualClock(Date.now());
    const { scaler, log } = bed.autoscaler(FLAGS, clock);
    expect((await scaler.tick())!.reported).toBe(true);
    expect(log.text()).toContain("cannot post the decision to the master: POST /api/v1/autoscaler/decisions: the master at");
    expect(log.text()).toContain("set user and password under [dist_test] in the config, or DIST_TEST_USER and DIST_TEST_PASSWORD");
    clock.advance(60_000);
    expect((await scaler.tick())!).toMatchObject({ done: false, plan: { action: "drain" } });
    clock.advance(10_000);
    expect((await scaler.tick())!).toMatchObject({ done: false, plan: { action: "drain" } });
    expect(await bed.decisions()).toEqual([]);
    expect((await bed.slaves())[0]!.pending_command).toBeNull();

    const { scaler: wrong, log: wrongLog } = bed.autoscaler(FLAGS, clock, { ...ALICE, DIST_TEST_PASSWORD: "guess" });
    await wrong.tick();
    expect(wrongLog.text()).toContain(`refused user "alice"; check user and password in the config`);
  });
});
