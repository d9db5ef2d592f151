/**
 * `dt autoscale --provider local` against a real master: it starts real
 * `dt slave` processes for a job, no more than --max, and once they idle
 * past the lag drains them through the master and stops them, never one
 * that still runs a task.
 */
import { describe, expect, test } from "bun:test";
import type { AutoscaleDecision, TaskView } from "../../src/master/protocol.ts";
import { join } from "node:path";
import { pollUntil } from "../e2e/cluster.ts";
import { DtProcess } from "../e2e/processes.ts";
import { processAlive } from "../helpers/wait.ts";
import { DT_WITH_AUTOSCALE, SLEEP_TREE, useTestBed } from "./harness.ts";

const setup = useTestBed();

/** Boots of two slaves on a loaded 2-core machine, a job of a few seconds, the lag: well within this. */
const TEST_TIMEOUT_MS = 40_000;
const BAD_STATES = new Set(["INFRA_FAILED", "SLAVE_LOST", "CANCELED"]);

const acts = (decisions: readonly AutoscaleDecision[]) => [...decisions].reverse().filter((d) => d.action !== "hold");
const line = (d: AutoscaleDecision) => `${d.action} ${d.from}→${d.to}`;
const attemptsOf = (tasks: readonly TaskView[]) => tasks.flatMap((t) => t.attempts.map((a) => ({ ...a, description: t.description })));

describe("dt autoscale --provider local", () => {
  test("grows to --max 2 for a job of 4 tasks, the job passes, then drains and stops both after the idle lag", async () => {
    const bed = await setup();
    const hash = await bed.archive(SLEEP_TREE, ["./sleep.sh", "2"]);
    const { scaler, settings, provider, log } = bed.autoscaler([
      "--provider", "local", "--min", "0", "--max", "2", "--slots", "1", "--slave-prefix", "auto",
      // 4 tasks × 2 s assumed, within 1 s on 1-slot slaves: 8 wanted, --max gives 2.
      "--target", "1s", "--default-task-duration", "2s", "--idle-lag", "1500ms", "--interval", "200ms", "--boot-timeout", "20s",
    ]);
    const stop = new AbortController();
    const loop = scaler.run(settings.intervalMs, stop.signal);
    try {
      await pollUntil(async () => (await bed.decisions()).length > 0, "the first decision", 5_000);
      expect(provider.members()!.size).toBe(0);

      const submitted = performance.now();
      const jobId = await bed.submit(Array.from({ length: 4 }, (_, i) => ({ isolate_hash: hash, description: `sleep_${i}` })));
      let most = 0;
      let twoRunningMs = 0;
      let tasks: TaskView[] = [];
      await pollUntil(async () => {
        const live = (await bed.slaves()).filter((s) => s.name.startsWith("auto-") && s.state !== "lost");
        most = Math.max(most, live.length, provider.members()!.size);
        if (!twoRunningMs && live.filter((s) => s.running.length > 0).length === 2) twoRunningMs = performance.now() - submitted;
        tasks = await bed.tasks(jobId);
        return tasks.every((t) => t.group === "succeeded");
      }, () => `job ${jobId} to pass; log:\n${log.text()}`, 30_000);
      const jobDone = performance.now();
      expect(twoRunningMs).toBeGreaterThan(0);

      await pollUntil(async () => {
        most = Math.max(most, provider.members()!.size);
        return provider.members()!.size === 0 && acts(await bed.decisions()).at(-1)?.to === 0;
      }, () => `the slaves to be drained and stopped; log:\n${log.text()}`, 15_000);
      const shrunk = performance.now();
      expect(most).toBe(2);

      // Every attempt ran to its end on a slave: none was killed, lost or canceled by a stop.
      const attempts = attemptsOf(await bed.tasks(jobId));
      expect(attempts.map((a) => a.state)).toEqual(["SUCCEEDED", "SUCCEEDED", "SUCCEEDED", "SUCCEEDED"]);
      expect(attempts.filter((a) => BAD_STATES.has(a.state))).toEqual([]);

      const decisions = await bed.decisions();
      const done = acts(decisions);
      expect(line(done[0]!)).toBe("grow 0→2");
      expect(done.filter((d) => d.action === "grow")).toHaveLength(1);
      const drained = done.filter((d) => d.action === "drain").flatMap((d) => d.slaves ?? []);
      const stopped = done.filter((d) => d.action === "shrink").flatMap((d) => d.slaves ?? []);
      expect(drained.sort()).toEqual(["auto-1", "auto-2"]);
      expect(stopped.sort()).toEqual(["auto-1", "auto-2"]);
      for (const d of done.filter((x) => x.action === "shrink")) {
        for (const name of d.slaves!) {
          const drain = done.find((x) => x.action === "drain" && x.slaves!.includes(name))!;
          expect(drain.at).toBeLessThanOrEqual(d.at);
        }
      }
      expect(done.at(-1)!.to).toBe(0);
      // The lag: no drain before a slave had idled 1.5 s after its last task.
      const lastEnd = Math.max(...attempts.map((a) => a.reported_at!));
      for (const d of done.filter((x) => x.action === "drain")) expect(d.at).toBeGreaterThanOrEqual(Math.min(...attempts.map((a) => a.reported_at!)) + 1500);
      expect(decisions.every((d) => d.autoscaler === settings.name)).toBe(true);
      expect(log.text()).toContain("grow 0 → 2: ");

      const page = await bed.get<string>("/");
      expect(page).toContain("<h1>Autoscaler</h1>");
      expect(page).toMatch(/<td>grow<\/td><td>0 → 2<\/td>/);
      expect(page).toMatch(/<td>drain<\/td>/);
      expect(page).toMatch(/Queue length: 0 Running: 0/);

      if (process.env.DT_AUTOSCALE_LOG) console.log(log.text());
      console.log(`autoscale e2e: submit → 2 slaves running ${Math.round(twoRunningMs)} ms; job ${Math.round(jobDone - submitted)} ms; last task end → stopped ${Math.round(shrunk - jobDone)} ms (lag 1500 ms, tick 200 ms); last report → last shrink ${done.at(-1)!.at - lastEnd} ms`);
    } finally {
      stop.abort();
      await loop;
      await scaler.shutdown();
    }
  }, TEST_TIMEOUT_MS);

  test("a slave running a long task past the idle lag is stopped only after its task finished; the idle one goes meanwhile", async () => {
    const bed = await setup();
    const long = await bed.archive(SLEEP_TREE, ["./sleep.sh", "4"]);
    const short = await bed.archive(SLEEP_TREE, ["./sleep.sh", "0.2"]);
    const { scaler, settings, provider, log } = bed.autoscaler([
      "--provider", "local", "--min", "0", "--max", "2", "--slots", "1", "--slave-prefix", "auto",
      "--target", "1s", "--default-task-duration", "1s", "--idle-lag", "1s", "--interval", "200ms", "--boot-timeout", "20s",
    ]);
    const stop = new AbortController();
    const loop = scaler.run(settings.intervalMs, stop.signal);
    try {
      const jobId = await bed.submit([{ isolate_hash: long, description: "long" }, { isolate_hash: short, description: "short" }]);
      let tasks: TaskView[] = [];
      await pollUntil(async () => {
        tasks = await bed.tasks(jobId);
        return tasks.every((t) => t.group === "succeeded");
      }, () => `job ${jobId} to pass; log:\n${log.text()}`, 30_000);
      await pollUntil(async () => provider.members()!.size === 0, () => `the slaves to be stopped; log:\n${log.text()}`, 15_000);

      const attempts = attemptsOf(tasks);
      expect(attempts.filter((a) => BAD_STATES.has(a.state))).toEqual([]);
      const longRun = attempts.find((a) => a.description === "long")!;
      const longSlave = longRun.slave!;
      const done = acts(await bed.decisions());
      const drainOf = (name: string) => done.find((d) => d.action === "drain" && d.slaves!.includes(name));
      const stopOf = (name: string) => done.find((d) => d.action === "shrink" && d.slaves!.includes(name));
      // The busy slave: neither drained nor stopped before its task ended.
      expect(drainOf(longSlave)!.at).toBeGreaterThanOrEqual(longRun.command_end_at!);
      expect(stopOf(longSlave)!.at).toBeGreaterThanOrEqual(longRun.reported_at!);
      // The other slave idled past the lag while the long task ran, and went then.
      const other = ["auto-1", "auto-2"].find((n) => n !== longSlave)!;
      expect(stopOf(other)!.at).toBeLessThan(longRun.command_end_at!);
      console.log(`autoscale e2e: long task end → its slave stopped ${stopOf(longSlave)!.at - longRun.command_end_at!} ms; idle slave stopped ${longRun.command_end_at! - stopOf(other)!.at} ms before the long task ended`);
    } finally {
      stop.abort();
      await loop;
      await scaler.shutdown();
    }
  }, TEST_TIMEOUT_MS);

  test("SIGTERM: dt autoscale decides no more, its slave finishes the running task and exits, then dt autoscale exits 0", async () => {
    const bed = await setup();
    const hash = await bed.archive(SLEEP_TREE, ["./sleep.sh", "2"]);
    const args = [
      "autoscale", "--master", bed.url, "--provider", "local", "--max", "1", "--slots", "1", "--slave-prefix", "sig", "--interval", "200ms",
      "--log-dir", join(bed.dir, "logs"), "--cache-dir", join(bed.dir, "cache"),
    ];
    // Its own process group, with the slaves it starts: the cleanup kills the group whatever happened.
    const scaler = new DtProcess("dt autoscale", Bun.spawn([...DT_WITH_AUTOSCALE, ...args], { env: bed.env, stdin: "ignore", stdout: "pipe", stderr: "pipe", detached: true }));
    bed.onCleanup(async () => scaler.killGroup("SIGKILL"));
    await scaler.waitForOutput(/hold 0 → 0/, "its first decision");
    const jobId = await bed.submit([{ isolate_hash: hash, description: "running_at_sigterm" }]);
    const pid = Number((await scaler.waitForOutput(/started slave sig-1 \(pid (\d+)\)/, "a slave start"))[1]);
    let seen: TaskView[] = [];
    await pollUntil(async () => (seen = await bed.tasks(jobId))[0]!.attempts[0]?.leased_at != null, () => `a slave to take the task (${JSON.stringify(seen[0]?.attempts)}); dt autoscale said:\n${scaler.output}`, 15_000);

    const termAt = Date.now();
    scaler.proc.kill("SIGTERM");
    expect(await scaler.waitExit(20_000)).toBe(0);
    const [task] = await bed.tasks(jobId);
    expect(task!.attempts.map((a) => a.state)).toEqual(["SUCCEEDED"]);
    // The signal came while the task ran; it ran to its end.
    expect(task!.attempts[0]!.command_end_at!).toBeGreaterThan(termAt);
    expect(processAlive(pid)).toBe(false);
    expect(scaler.output).toContain("SIGTERM: no more decisions; the slaves drain and exit");
    expect(scaler.output).toContain("shrink 1 → 0: dt autoscale is stopping: its slaves finish their running tasks and exit [sig-1]");
    // It exited after the slave did, and the slave after its task.
    expect(scaler.output.indexOf("slave sig-1 exited")).toBeGreaterThan(scaler.output.indexOf("SIGTERM"));
    expect((await bed.decisions())[0]).toMatchObject({ action: "shrink", from: 1, to: 0, slaves: ["sig-1"] });
  }, TEST_TIMEOUT_MS);
});
