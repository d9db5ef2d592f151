/**
 * `dt autoscale --provider exec`: the conformance suite on a "cloud group"
 * played by a shell script that runs real `dt slave` processes, then the
 * autoscaler's use of the commands (resize for growth, remove or resize for
 * shrink, failures retried, quoting, timeouts) on virtual time against a
 * real master, with slaves that register through the slave protocol, and
 * `--once` with `--state` as cron would run it.
 */
import { describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ExecProvider, fillCommand, shellQuote } from "../../src/autoscale/exec-provider.ts";
import { ManualClock } from "../../src/common/clock.ts";
import { createLogger } from "../../src/common/log.ts";
import type { SlaveView } from "../../src/master/protocol.ts";
import { processAlive } from "../helpers/wait.ts";
import { putManifest } from "../master/helpers.ts";
import { MAIN, collectingLog, runAutoscaleCli, useTestBed, type TestBed } from "./harness.ts";
import { providerConformance } from "./provider.conformance.ts";

/**
 * A cloud group of `dt slave` processes named cloud-N: `resize COUNT` starts
 * or stops (newest first, as the cloud picks) to COUNT, `remove NAME` stops
 * that one. Every call is appended to $FLEET_DIR/calls.
 */
const FLEET_SCRIPT = `#!/bin/sh
set -e
mkdir -p "$FLEET_DIR"
cd "$FLEET_DIR"
mkdir -p pids logs
echo "$*" >> calls
case "$1" in
  resize)
    n=$(ls pids | wc -l)
    while [ "$n" -lt "$2" ]; do
      i=$(( $(cat next 2>/dev/null || echo 0) + 1 )); echo "$i" > next
      "$DT_BUN" "$DT_MAIN" slave --master "$DT_MASTER_URL" --name "cloud-$i" --slots 1 --cache-dir "$FLEET_DIR/cache" --dimensions pool=cloud </dev/null >"logs/cloud-$i.log" 2>&1 &
      echo $! > "pids/cloud-$i"
      n=$((n + 1))
    done
    while [ "$n" -gt "$2" ]; do
      victim=$(ls pids | sort -t- -k2 -n | tail -1)
      kill -TERM "$(cat "pids/$victim")" || true
      rm "pids/$victim"
      n=$((n - 1))
    done ;;
  remove)
    kill -TERM "$(cat "pids/$2")"
    rm "pids/$2" ;;
esac
`;

providerConformance("exec", async (bed) => {
  const fleet = join(bed.dir, "fleet");
  const script = join(bed.dir, "fleet.sh");
  writeFileSync(script, FLEET_SCRIPT, { mode: 0o755 });
  const pids = new Map<string, number>();
  const pidOf = (name: string) => {
    const file = join(fleet, "pids", name);
    if (existsSync(file)) pids.set(name, Number(readFileSync(file, "utf8")));
    return pids.get(name);
  };
  bed.onCleanup(async () => {
    for (const name of existsSync(join(fleet, "pids")) ? readdirSync(join(fleet, "pids")) : []) pidOf(name);
    for (const pid of pids.values()) {
      try {
        process.kill(pid, "SIGKILL");
      } catch {
        // Stopped already.
      }
    }
  });
  const provider = new ExecProvider({
    resize: `${script} resize {count}`, remove: `${script} remove {name}`, prefix: "cloud-", dimensions: { pool: "cloud" }, timeoutMs: 20_000,
    env: { ...bed.env, FLEET_DIR: fleet, DT_BUN: process.execPath, DT_MAIN: MAIN, DT_MASTER_URL: bed.url }, log: createLogger({ level: "silent" }),
  });
  return {
    provider,
    running: (name) => {
      const pid = pidOf(name);
      return pid !== undefined && processAlive(pid);
    },
    ours: { name: "cloud-12", dimensions: { pool: "cloud", os: "linux" } },
    theirs: [{ name: "cloud-3", dimensions: { pool: "other" } }, { name: "local-1", dimensions: { pool: "cloud" } }],
  };
});

const setup = useTestBed();

/** A recorder for commands: `rec.sh WORDS…` appends its words as one line to <dir>/calls, and fails while <dir>/fail exists and its text is in the words. */
function recorder(bed: TestBed) {
  const dir = join(bed.dir, "rec");
  const script = join(bed.dir, "rec.sh");
  mkdirSync(dir);
  writeFileSync(script, `#!/bin/sh\nprintf '%s\\n' "$*" >> "${dir}/calls"\nif [ -e "${dir}/fail" ] && printf '%s' "$*" | grep -qF -- "$(cat "${dir}/fail")"; then echo "quota exceeded for $*" >&2; exit 3; fi\necho "ok: $*"\n`, { mode: 0o755 });
  return {
    script,
    calls: () => (existsSync(join(dir, "calls")) ? readFileSync(join(dir, "calls"), "utf8").trim().split("\n") : []),
    /** true: every call fails; a string: the calls with it in their words. */
    failing(on: boolean | string) {
      if (on === false) rmSync(join(dir, "fail"), { force: true });
      else writeFileSync(join(dir, "fail"), on === true ? "" : on);
    },
  };
}

/** A slave that calls the master once (a lease with no free slot), as a booted cloud instance's `dt slave` would. */
async function register(bed: TestBed, name: string, dimensions: Record<string, string>): Promise<void> {
  await bed.post("/api/v1/slave/lease", { slave: { name, dimensions, slots: 1, version: "test" }, free: 0, wait_ms: 0 });
}

const S = 1000;
const unmanaged = (slaves: SlaveView[]) => slaves.map((s) => s.name);

describe("dt autoscale --provider exec", () => {
  test("resizes for demand its slaves can run, counts registrations against the starts, drains idle ones and removes them by name", async () => {
    const bed = await setup();
    const rec = recorder(bed);
    const clock = new ManualClock(Date.now());
    const { scaler, log } = bed.autoscaler([
      "--provider", "exec", "--exec-resize", `${rec.script} resize {count}`, "--exec-remove", `${rec.script} remove {name}`,
      "--dimensions", "pool=exec", "--slave-prefix", "exec-", "--max", "5", "--slots", "1",
      "--target", "1s", "--default-task-duration", "1s", "--idle-lag", "1m", "--boot-timeout", "5m",
    ], clock);
    const [a, b] = [await putManifest(bed.url, "a"), await putManifest(bed.url, "b")];
    const ours = await bed.submit(Array.from({ length: 3 }, (_, i) => ({ isolate_hash: a, description: `t${i}`, dimensions: { pool: "exec" } })));
    await bed.submit([{ isolate_hash: b, description: "gpu", dimensions: { pool: "gpu" } }, { isolate_hash: b, description: "gpu2", dimensions: { pool: "gpu" } }]);

    const grow = (await scaler.tick())!;
    expect(grow.decision).toMatchObject({ action: "grow", from: 0, to: 3 });
    expect(grow.decision.reason).toStartWith("3 queued tasks, about 3s of work (3 without history, assumed 1s each): 3 slaves × 1 slot finish it within 1s");
    expect(rec.calls()).toEqual(["resize 3"]);
    expect(log.text()).toContain("ok: resize 3");

    // Two of the three boot; slaves of other pools or names are not the group's.
    await register(bed, "exec-a", { pool: "exec" });
    await register(bed, "exec-b", { pool: "exec", os: "linux" });
    await register(bed, "exec-gpu", { pool: "gpu" });
    await register(bed, "cloud-x", { pool: "exec" });
    clock.advance(10 * S);
    const booting = (await scaler.tick())!;
    expect(booting.decision).toMatchObject({ action: "hold", from: 3, to: 3 });
    expect(scaler.memory.pending).toHaveLength(1);
    expect(rec.calls()).toEqual(["resize 3"]);

    await bed.post(`/api/v1/jobs/${ours}/cancel`, {});
    clock.advance(10 * S);
    const idle = (await scaler.tick())!;
    expect(idle.decision.action).toBe("hold");
    expect(idle.decision.reason).toStartWith("nothing queued for them (2 queued tasks ask for dimensions these slaves lack); 2 idle slaves");

    clock.advance(60 * S);
    const drain = (await scaler.tick())!;
    expect(drain.decision).toMatchObject({ action: "drain", from: 3, to: 1, slaves: ["exec-a", "exec-b"] });
    const views = await bed.slaves();
    expect(views.filter((s) => s.pending_command?.action === "drain").map((s) => s.name).sort()).toEqual(["exec-a", "exec-b"]);
    expect(views.find((s) => s.name === "exec-a")!.pending_command!.reason).toContain("idle past --idle-lag 1m00s");

    clock.advance(10 * S);
    const shrink = (await scaler.tick())!;
    expect(shrink.decision).toMatchObject({ action: "shrink", from: 3, to: 1, slaves: ["exec-a", "exec-b"] });
    expect(rec.calls()).toEqual(["resize 3", "remove exec-a", "remove exec-b"]);

    // The third start never registered: after the boot grace it no longer counts.
    clock.advance(5 * 60 * S);
    const after = (await scaler.tick())!;
    expect(after.decision).toMatchObject({ action: "hold", from: 0, to: 0 });
    expect(log.text()).toContain("has not registered with the master within --boot-timeout 5m00s; no longer counted");

    const posted = (await bed.decisions()).map((d) => `${d.action} ${d.from}→${d.to}`).reverse();
    expect(posted).toEqual(["grow 0→3", "hold 3→3", "hold 3→3", "drain 3→1", "shrink 3→1", "hold 0→0"]);
    expect(unmanaged(await bed.slaves())).toContain("cloud-x");
  });

  test("without --exec-remove a shrink resizes; a failing command is logged, not posted, and tried again; a slave the cloud left takes work again", async () => {
    const bed = await setup();
    const rec = recorder(bed);
    const clock = new ManualClock(Date.now());
    const { scaler, log } = bed.autoscaler([
      "--provider", "exec", "--exec-resize", `${rec.script} resize {count}`, "--slave-prefix", "exec-", "--max", "3", "--idle-lag", "1m", "--boot-timeout", "5m",
    ], clock);
    await register(bed, "exec-a", {});
    await register(bed, "exec-b", {});
    expect((await scaler.tick())!.decision.action).toBe("hold");
    clock.advance(60 * S);
    expect((await scaler.tick())!.decision).toMatchObject({ action: "drain", from: 2, to: 0 });

    rec.failing(true);
    clock.advance(10 * S);
    const failed = (await scaler.tick())!;
    expect(failed).toMatchObject({ done: false, reported: false, plan: { action: "shrink", stop: ["exec-a", "exec-b"] } });
    expect(log.text()).toContain("shrink 2 → 0 failed: resize to 0: ");
    expect(log.text()).toContain("exited 3: quota exceeded for resize 0; tried again at the next tick");
    expect((await bed.decisions()).map((d) => d.action)).not.toContain("shrink");

    rec.failing(false);
    clock.advance(10 * S);
    expect((await scaler.tick())!.decision).toMatchObject({ action: "shrink", from: 2, to: 0 });
    expect(rec.calls()).toEqual(["resize 0", "resize 0"]);
    expect(Object.keys(scaler.memory.released).sort()).toEqual(["exec-a", "exec-b"]);

    // The cloud removed other instances: a boot grace later both still call the master, so they work again.
    await register(bed, "exec-a", {});
    await register(bed, "exec-b", {});
    clock.advance(5 * 60 * S + 1);
    await scaler.tick();
    expect(scaler.memory.released).toEqual({});
    expect(log.text()).toContain("slave exec-a outlived the resize that was to remove it");
    expect((await bed.slaves()).map((s) => s.pending_command)).toEqual([null, null]);
  });

  test("a removal that fails for one slave: the others' is reported, the failed one is tried again", async () => {
    const bed = await setup();
    const rec = recorder(bed);
    const clock = new ManualClock(Date.now());
    const { scaler } = bed.autoscaler([
      "--provider", "exec", "--exec-resize", `${rec.script} resize {count}`, "--exec-remove", `${rec.script} remove {name}`, "--slave-prefix", "exec-", "--max", "3", "--idle-lag", "1m",
    ], clock);
    await register(bed, "exec-a", {});
    await register(bed, "exec-b", {});
    await scaler.tick();
    clock.advance(60 * S);
    expect((await scaler.tick())!.decision.action).toBe("drain");
    rec.failing("exec-b");
    clock.advance(10 * S);
    expect((await scaler.tick())!).toMatchObject({ done: false, reported: true });
    expect((await bed.decisions())[0]).toMatchObject({ action: "shrink", slaves: ["exec-a"] });
    expect((await bed.decisions())[0]!.reason).toContain("done for exec-a only: remove exec-b: ");
    rec.failing(false);
    clock.advance(10 * S);
    expect((await scaler.tick())!).toMatchObject({ done: true, decision: { action: "shrink", from: 1, to: 0, slaves: ["exec-b"] } });
    expect(rec.calls()).toEqual(["remove exec-a", "remove exec-b", "remove exec-b"]);
  });

  test("a command past --exec-timeout is killed and tried again at the next tick", async () => {
    const bed = await setup();
    const clock = new ManualClock(Date.now());
    const marker = join(bed.dir, "resized");
    const { scaler, log } = bed.autoscaler([
      "--provider", "exec", "--exec-resize", `sleep 30; touch ${marker} {count}`, "--exec-timeout", "300ms", "--slave-prefix", "exec-", "--max", "2",
    ], clock);
    await bed.submit([{ isolate_hash: await putManifest(bed.url, "a"), description: "t" }]);
    const started = performance.now();
    const result = (await scaler.tick())!;
    expect(performance.now() - started).toBeLessThan(10_000);
    expect(result).toMatchObject({ done: false, plan: { action: "grow", start: 1 } });
    expect(log.text()).toContain("took longer than 0.3 s and was killed; tried again at the next tick");
    expect(existsSync(marker)).toBe(false);
    expect(scaler.memory.pending).toEqual([]);
  });

  test("placeholders are quoted: a value cannot break out of its word", async () => {
    expect(shellQuote("it's")).toBe(`'it'\\''s'`);
    expect(fillCommand("resize --size {count} {unknown}", { count: "3" })).toBe("resize --size '3' {unknown}");
    const bed = await setup();
    const out = join(bed.dir, "out");
    const log = collectingLog();
    const provider = new ExecProvider({ resize: "true {count}", remove: `printf '%s\\n' {name} >> ${out}`, dimensions: {}, timeoutMs: 5_000, env: bed.env, log: log.log });
    const hostile = `x'; touch ${join(bed.dir, "pwned")}; echo '$(id)\`id\``;
    expect(await provider.stop([hostile], 0)).toEqual({ stopped: [hostile] });
    expect(readFileSync(out, "utf8")).toBe(`${hostile}\n`);
    expect(existsSync(join(bed.dir, "pwned"))).toBe(false);
  });

  test("--once from cron: prints the decision, carries pending starts to the next run in --state; local refuses --once", async () => {
    const bed = await setup();
    const rec = recorder(bed);
    const state = join(bed.dir, "state.json");
    const flags = ["--once", "--master", bed.url, "--provider", "exec", "--exec-resize", `${rec.script} resize {count}`, "--slave-prefix", "exec-", "--max", "4", "--target", "1m", "--state", state];
    const hash = await putManifest(bed.url, "a");
    await bed.submit(Array.from({ length: 6 }, (_, i) => ({ isolate_hash: hash, description: `t${i}` })));
    const first = await runAutoscaleCli(flags, bed.env);
    expect(first.exitCode, first.stderr).toBe(0);
    // 6 × 1 m assumed, within 1 m on 1-slot slaves: 6 wanted, --max 4.
    expect(first.stdout).toMatch(/^grow 0 → 4: 6 queued tasks, about 6m00s of work .*\(--max 4\); starting 4\n$/);
    const second = await runAutoscaleCli(flags, bed.env);
    expect(second.exitCode, second.stderr).toBe(0);
    expect(second.stdout).toStartWith("hold 4 → 4: ");
    expect(rec.calls()).toEqual(["resize 4"]);
    expect(JSON.parse(readFileSync(state, "utf8")).pending).toHaveLength(4);

    const json = await runAutoscaleCli([...flags, "--log-format", "json"], bed.env);
    expect(JSON.parse(json.stdout)).toMatchObject({ action: "hold", from: 4, to: 4 });

    const local = await runAutoscaleCli(["--once", "--master", bed.url, "--provider", "local", "--max", "2"], bed.env);
    expect(local.exitCode).toBe(2);
    expect(local.stderr).toContain("--once with --provider local");
  });
});
