/**
 * The autoscaler's rule on virtual time: observeFleet and decide, pure,
 * driven by a ManualClock through ticks as the controller drives them.
 */
import { describe, expect, test } from "bun:test";
import { decide, type Plan } from "../../src/autoscale/decide.ts";
import { matchDemand } from "../../src/autoscale/demand.ts";
import { type FleetMemory, emptyMemory, observeFleet } from "../../src/autoscale/fleet.ts";
import type { AutoscalePolicy } from "../../src/autoscale/policy.ts";
import { ManualClock } from "../../src/common/clock.ts";
import type { QueueDemand, SlaveCommand, SlaveState, SlaveView } from "../../src/master/protocol.ts";

const S = 1000;
const M = 60 * S;

const POLICY: AutoscalePolicy = {
  min: 0, max: 10, slotsPerSlave: 1, targetMs: 5 * M, defaultTaskMs: 1 * M, idleLagMs: 10 * M, bootTimeoutMs: 2 * M, dimensions: { os: "linux", pool: "ci" },
};

function view(name: string, state: SlaveState, options: { running?: number; slots?: number; command?: SlaveCommand["action"] } = {}): SlaveView {
  const running = Array.from({ length: options.running ?? (state === "busy" ? 1 : 0) }, (_, i) => ({ job_id: "j", task_id: `t${i}`, attempt: 0 }));
  return {
    name, dimensions: { os: "linux", pool: "ci" }, slots: options.slots ?? 1, version: "test", state, hold: null,
    pending_command: options.command ? { action: options.command, reason: "test" } : null,
    registered_at: 0, last_seen_at: 0, running, infra_failures: [], metrics_url: null,
  };
}

/** Demand of one dimension set: `known` ms of work with history plus `unknown` tasks without. */
function queue(sets: { dimensions?: Record<string, string>; known?: number; knownTasks?: number; unknown?: number }[]): QueueDemand {
  const by = sets.map((s) => {
    const dimensions = s.dimensions ?? {};
    const queued = (s.knownTasks ?? 0) + (s.unknown ?? 0);
    return { key: JSON.stringify(dimensions), dimensions, queued_tasks: queued, queued_known_work_ms: s.known ?? 0, queued_unknown_tasks: s.unknown ?? 0 };
  });
  const sum = (f: (x: (typeof by)[number]) => number) => by.reduce((n, x) => n + f(x), 0);
  return { queued_tasks: sum((x) => x.queued_tasks), queued_known_work_ms: sum((x) => x.queued_known_work_ms), queued_unknown_tasks: sum((x) => x.queued_unknown_tasks), running_tasks: 0, by_dimensions: by };
}
const NOTHING = queue([]);

/**
 * The controller's loop without the I/O: each tick observes the slaves the
 * test says the master shows, decides, and remembers what was asked
 * (starts, drains, stops) as the controller would once they succeeded.
 */
class Sim {
  readonly clock = new ManualClock(1_700_000_000_000);
  memory: FleetMemory = emptyMemory();
  slaves: SlaveView[] = [];
  members: Set<string> | undefined;
  private started = 0;

  constructor(readonly policy: AutoscalePolicy = POLICY, readonly named = true) {}

  tick(demand: QueueDemand = NOTHING): Plan {
    const now = this.clock.now();
    const seen = observeFleet(this.memory, this.slaves, now, { bootTimeoutMs: this.policy.bootTimeoutMs, members: this.members });
    const plan = decide(this.policy, seen.fleet, matchDemand(demand, this.policy.dimensions), now);
    const memory = seen.memory;
    for (let i = 0; i < plan.start; i++) memory.pending.push(this.named ? { at: now, name: `auto-${++this.started}` } : { at: now });
    const removing = { ...memory.removing };
    for (const name of plan.resume) delete removing[name];
    for (const name of plan.drain) removing[name] = now;
    const released = { ...memory.released };
    for (const name of plan.stop) {
      delete removing[name];
      released[name] = now;
    }
    this.memory = { ...memory, removing, released };
    return plan;
  }

  at(ms: number): this {
    this.clock.advance(ms);
    return this;
  }
}

const summary = (p: Plan) => ({ action: p.action, from: p.from, to: p.to, start: p.start, resume: p.resume, drain: p.drain, stop: p.stop });

describe("decide: growing", () => {
  test("from 0: one slave per slot-target of work, here 4 tasks of unknown duration × 1 m within 1 m", () => {
    const sim = new Sim({ ...POLICY, targetMs: 1 * M });
    const p = sim.tick(queue([{ unknown: 4 }]));
    expect(summary(p)).toEqual({ action: "grow", from: 0, to: 4, start: 4, resume: [], drain: [], stop: [] });
    expect(p.reason).toBe("4 queued tasks, about 4m00s of work (4 without history, assumed 1m00s each): 4 slaves × 1 slot finish it within 1m00s, there are 0; starting 4");
  });

  test("capped at --max, and holds there while the starts are pending", () => {
    const sim = new Sim({ ...POLICY, max: 3 });
    const p = sim.tick(queue([{ knownTasks: 100, known: 100 * 10 * M }]));
    expect(summary(p)).toMatchObject({ action: "grow", from: 0, to: 3, start: 3 });
    expect(p.reason).toContain("(--max 3)");
    const again = sim.at(10 * S).tick(queue([{ knownTasks: 100, known: 100 * 10 * M }]));
    expect(summary(again)).toMatchObject({ action: "hold", from: 3, to: 3, start: 0 });
    expect(again.key).toBe("at-max");
  });

  test("holds when the slaves there finish the queued work within the target", () => {
    const sim = new Sim();
    sim.slaves = [view("a", "busy")];
    // Two tests known to take 30 s each: a minute of work, one slave does it within 5 minutes.
    const p = sim.tick(queue([{ knownTasks: 2, known: 60 * S }]));
    expect(summary(p)).toMatchObject({ action: "hold", from: 1, to: 1 });
    expect(p.key).toBe("within-target");
    expect(p.reason).toBe("2 queued tasks, about 1m00s of work: 1 slave × 1 slot finish it within 5m00s, there is 1");
  });

  test("grows by the work beyond what the slaves there finish within the target", () => {
    const sim = new Sim();
    sim.slaves = [view("a", "busy"), view("b", "busy")];
    // 20 minutes of known work plus 10 unknown tasks × 1 m = 30 m; within 5 m on 1-slot slaves: 6 slaves.
    const p = sim.tick(queue([{ knownTasks: 10, known: 20 * M, unknown: 10 }]));
    expect(summary(p)).toMatchObject({ action: "grow", from: 2, to: 6, start: 4 });
  });

  test("unknown durations are assumed --default-task-duration each", () => {
    const long = new Sim({ ...POLICY, defaultTaskMs: 10 * M, slotsPerSlave: 2 });
    // 3 × 10 m = 30 m over 2-slot slaves within 5 m: 3 slaves.
    expect(summary(long.tick(queue([{ unknown: 3 }])))).toMatchObject({ action: "grow", to: 3 });
    const short = new Sim({ ...POLICY, defaultTaskMs: 1 * M, slotsPerSlave: 2 });
    expect(summary(short.tick(queue([{ unknown: 3 }])))).toMatchObject({ action: "grow", to: 1 });
  });

  test("never more new slaves than queued tasks: 2 hour-long tasks start 2, not 24", () => {
    const sim = new Sim();
    const p = sim.tick(queue([{ knownTasks: 2, known: 2 * 60 * M }]));
    expect(summary(p)).toMatchObject({ action: "grow", from: 0, to: 2, start: 2 });
    expect(p.reason).toContain("(one per queued task)");
  });

  test("queued tasks that fit the free slots of the slaves up start nothing", () => {
    const sim = new Sim({ ...POLICY, slotsPerSlave: 4 });
    sim.slaves = [view("a", "busy", { slots: 4, running: 1 })];
    const p = sim.tick(queue([{ knownTasks: 3, known: 3 * 60 * M }]));
    expect(p.action).toBe("hold");
    expect(p.key).toBe("free-slots");
    expect(p.reason).toContain("they fit the 3 free slots");
  });

  test("without --slots, the managed slaves' own slot count sizes the fleet", () => {
    const sim = new Sim({ ...POLICY, slotsPerSlave: undefined });
    sim.slaves = [view("a", "busy", { slots: 8, running: 8 })];
    // 80 minutes of work on 8-slot slaves within 5 m: 2 slaves, 1 more.
    expect(summary(sim.tick(queue([{ knownTasks: 16, known: 80 * M }])))).toMatchObject({ action: "grow", from: 1, to: 2, start: 1 });
  });

  test("grows to --min with nothing queued", () => {
    const sim = new Sim({ ...POLICY, min: 2 });
    const p = sim.tick();
    expect(summary(p)).toMatchObject({ action: "grow", from: 0, to: 2, start: 2 });
    expect(p.reason).toBe("0 slaves, below --min 2; starting 2");
  });

  test("counts only the demand the managed slaves' dimensions satisfy", () => {
    const sim = new Sim();
    const demand = queue([
      { dimensions: { pool: "gpu" }, unknown: 5 },
      { dimensions: { os: "mac" }, unknown: 2 },
    ]);
    const hold = sim.tick(demand);
    expect(hold.action).toBe("hold");
    expect(hold.reason).toBe("nothing queued for these slaves (7 queued tasks ask for dimensions these slaves lack); 0 slaves");
    // A subset of the slaves' dimensions matches: {os: linux} and {} do, {pool: ci, arch: arm} does not.
    const mixed = queue([{ dimensions: { os: "linux" }, unknown: 6 }, { unknown: 4 }, { dimensions: { pool: "ci", arch: "arm" }, unknown: 9 }]);
    expect(matchDemand(mixed, POLICY.dimensions)).toEqual({ queuedTasks: 10, knownWorkMs: 0, unknownTasks: 10, otherTasks: 9 });
    // 10 unknown × 1 m within 5 m: 2 slaves.
    expect(summary(sim.tick(mixed))).toMatchObject({ action: "grow", to: 2 });
  });

  test("--max counts held slaves too: a quarantined slave still costs a machine", () => {
    const sim = new Sim({ ...POLICY, max: 2 });
    sim.slaves = [view("a", "quarantined"), view("b", "busy")];
    const p = sim.tick(queue([{ unknown: 50 }]));
    expect(p).toMatchObject({ action: "hold", key: "at-max", from: 2 });
  });
});

describe("decide: pending starts", () => {
  test("a start counts until its slave registers, so the next tick does not grow again", () => {
    const sim = new Sim();
    const demand = queue([{ unknown: 10 }]);
    expect(summary(sim.tick(demand))).toMatchObject({ action: "grow", from: 0, to: 2, start: 2 });
    expect(summary(sim.at(10 * S).tick(demand))).toMatchObject({ action: "hold", from: 2, to: 2 });
    // One registered (by its name), the other still boots: still 2.
    sim.slaves = [view("auto-1", "busy")];
    expect(summary(sim.at(10 * S).tick(demand))).toMatchObject({ action: "hold", from: 2, to: 2 });
    expect(sim.memory.pending).toEqual([{ at: sim.clock.now() - 20 * S, name: "auto-2" }]);
  });

  test("a start not registered within --boot-timeout stops counting, and the demand grows again", () => {
    const sim = new Sim();
    const demand = queue([{ unknown: 10 }]);
    sim.tick(demand);
    expect(sim.at(POLICY.bootTimeoutMs).tick(demand).action).toBe("hold");
    const again = sim.at(1).tick(demand);
    expect(summary(again)).toMatchObject({ action: "grow", from: 0, to: 2, start: 2 });
  });

  test("unnamed starts (a cloud group) are settled by newly registered names, oldest first", () => {
    const sim = new Sim(POLICY, false);
    sim.slaves = [view("old-vm", "busy")];
    const demand = queue([{ unknown: 15 }]);
    expect(summary(sim.tick(demand))).toMatchObject({ action: "grow", from: 1, to: 3, start: 2 });
    sim.slaves = [view("old-vm", "busy"), view("vm-x1", "busy")];
    expect(summary(sim.at(30 * S).tick(demand))).toMatchObject({ action: "hold", from: 3, to: 3 });
    expect(sim.memory.pending).toHaveLength(1);
  });

  test("a restarted master that lists none of the slaves yet: they count for a boot grace, nothing is started in their place", () => {
    const sim = new Sim();
    const demand = queue([{ unknown: 20 }]);
    sim.slaves = [view("a", "busy"), view("b", "busy"), view("c", "lost")];
    expect(sim.tick(demand)).toMatchObject({ action: "grow", from: 2, to: 4 });
    sim.slaves = [view("auto-1", "busy"), view("auto-2", "busy"), view("a", "busy"), view("b", "busy"), view("c", "lost")];
    sim.tick(demand);
    // The master restarts: its registry is empty until the slaves call again.
    sim.slaves = [];
    const p = sim.at(5 * S).tick(demand);
    expect(p).toMatchObject({ action: "hold", from: 5, to: 5, key: "within-target" });
    sim.slaves = [view("a", "busy"), view("auto-1", "busy")];
    expect(sim.at(5 * S).tick(demand)).toMatchObject({ action: "hold", from: 5 });
    // Those that never call again stop counting after the grace, and are replaced then.
    expect(sim.at(POLICY.bootTimeoutMs).tick(demand)).toMatchObject({ action: "grow", from: 2 });
  });

  test("a named start whose process exited before registering is dropped", () => {
    const sim = new Sim();
    sim.tick(queue([{ unknown: 10 }]));
    sim.members = new Set(["auto-2"]);
    const seen = observeFleet(sim.memory, [], sim.clock.now() + S, { bootTimeoutMs: POLICY.bootTimeoutMs, members: sim.members });
    expect(seen.failed.map((s) => s.name)).toEqual(["auto-1"]);
    expect(seen.fleet.pending.map((s) => s.name)).toEqual(["auto-2"]);
  });
});

describe("decide: shrinking", () => {
  test("an idle slave is drained once the idle lag has passed, not before", () => {
    const sim = new Sim();
    sim.slaves = [view("a", "idle")];
    sim.tick();
    const early = sim.at(POLICY.idleLagMs - 1).tick();
    expect(early).toMatchObject({ action: "hold", key: "idle-lag" });
    expect(early.reason).toBe("nothing queued for them; 1 idle slave, the longest idle reaches --idle-lag 10m00s in 1ms");
    const due = sim.at(1).tick();
    expect(summary(due)).toEqual({ action: "drain", from: 1, to: 0, start: 0, resume: [], drain: ["a"], stop: [] });
  });

  test("work resets the idle clock", () => {
    const sim = new Sim();
    sim.slaves = [view("a", "idle")];
    sim.tick();
    sim.slaves = [view("a", "busy")];
    sim.at(9 * M).tick();
    sim.slaves = [view("a", "idle")];
    expect(sim.at(9 * M).tick().action).toBe("hold");
    expect(sim.at(1 * M).tick().action).toBe("drain");
  });

  test("busy slaves are never chosen; idle ones longest idle first", () => {
    const sim = new Sim();
    sim.slaves = [view("a", "idle"), view("b", "idle"), view("c", "busy")];
    sim.tick();
    sim.slaves = [view("a", "busy"), view("b", "idle"), view("c", "busy")];
    sim.at(5 * M).tick();
    sim.slaves = [view("a", "idle"), view("b", "idle"), view("c", "busy", { running: 1 })];
    const p = sim.at(5 * M).tick();
    expect(summary(p)).toMatchObject({ action: "drain", from: 3, to: 2, drain: ["b"] });
    expect(sim.at(5 * M).tick().drain).toEqual(["a"]);
  });

  test("nothing is drained while tasks they could run are queued", () => {
    const sim = new Sim({ ...POLICY, slotsPerSlave: 2 });
    sim.slaves = [view("a", "idle", { slots: 2 })];
    sim.tick();
    expect(sim.at(20 * M).tick(queue([{ unknown: 1 }])).action).toBe("hold");
  });

  test("--min is respected: 3 idle slaves with --min 2 drain one, with --min 3 none", () => {
    const three = () => [view("a", "idle"), view("b", "idle"), view("c", "idle")];
    const two = new Sim({ ...POLICY, min: 2 });
    two.slaves = three();
    two.tick();
    const p = two.at(POLICY.idleLagMs).tick();
    expect(summary(p)).toMatchObject({ action: "drain", from: 3, to: 2, drain: ["a"] });
    expect(p.reason).toContain("(--min 2 keeps 2)");
    const all = new Sim({ ...POLICY, min: 3 });
    all.slaves = three();
    all.tick();
    expect(all.at(POLICY.idleLagMs).tick()).toMatchObject({ action: "hold", key: "at-min" });
  });

  test("drained with nothing running: stopped; a slave that took a task before its drain finishes it first", () => {
    const sim = new Sim();
    sim.slaves = [view("a", "idle"), view("b", "idle")];
    sim.tick();
    expect(sim.at(POLICY.idleLagMs).tick().drain).toEqual(["a", "b"]);
    // a shows its drain with nothing running; b had leased a task just before.
    sim.slaves = [view("a", "draining"), view("b", "draining", { running: 1 })];
    const stopA = sim.at(10 * S).tick();
    expect(summary(stopA)).toEqual({ action: "shrink", from: 2, to: 1, start: 0, resume: [], drain: [], stop: ["a"] });
    sim.slaves = [view("b", "draining", { running: 1 })];
    expect(sim.at(10 * S).tick()).toMatchObject({ action: "hold", key: "draining", reason: "waiting for b to finish 1 running task before stopping" });
    sim.slaves = [view("b", "draining")];
    expect(summary(sim.at(10 * S).tick())).toMatchObject({ action: "shrink", from: 1, to: 0, stop: ["b"] });
  });

  test("a drain the slave has not taken up yet (still on its way in the master) counts as drained once nothing runs", () => {
    const sim = new Sim();
    sim.slaves = [view("a", "idle")];
    sim.tick();
    sim.at(POLICY.idleLagMs).tick();
    sim.slaves = [view("a", "idle", { command: "drain" })];
    expect(sim.at(S).tick()).toMatchObject({ action: "shrink", stop: ["a"] });
  });

  test("a slave being removed that the master shows taking work again is drained again; one gone from the master is stopped", () => {
    const memory: FleetMemory = { ...emptyMemory(), removing: { a: 1, b: 1 }, known: ["a", "b"] };
    const seen = observeFleet(memory, [view("a", "idle"), view("b", "lost")], 10, { bootTimeoutMs: M });
    expect(seen.fleet.undrained).toEqual(["a"]);
    expect(seen.fleet.gone).toEqual(["b"]);
    const p = decide(POLICY, seen.fleet, matchDemand(NOTHING, POLICY.dimensions), 10);
    expect(p).toMatchObject({ action: "shrink", stop: ["b"], from: 2, to: 1 });
  });

  test("new work takes draining slaves back before starting new ones", () => {
    const sim = new Sim();
    sim.slaves = [view("a", "idle"), view("b", "idle")];
    sim.tick();
    sim.at(POLICY.idleLagMs).tick();
    sim.slaves = [view("a", "draining", { running: 1 }), view("b", "draining", { running: 1 })];
    // 3 × 5 m of known work within 5 m: 3 slaves; a and b come back, one starts.
    const p = sim.at(S).tick(queue([{ knownTasks: 3, known: 15 * M }]));
    expect(summary(p)).toEqual({ action: "grow", from: 0, to: 3, start: 1, resume: ["a", "b"], drain: [], stop: [] });
    expect(p.reason).toContain("starting 1, taking back a, b from draining");
  });

  test("a job on virtual time: grow, run, idle, drain, stop, nothing left; a hold is told once per reason", () => {
    const sim = new Sim({ ...POLICY, max: 2 });
    const told: string[] = [];
    const step = (demand: QueueDemand = NOTHING) => {
      const p = sim.tick(demand);
      if (p.action !== "hold" || p.key !== sim.memory.lastHoldKey) told.push(`${p.action} ${p.from}→${p.to} ${p.key}`);
      sim.memory.lastHoldKey = p.action === "hold" ? p.key : null;
      sim.at(10 * S);
      return p;
    };
    step(queue([{ unknown: 12 }]));
    sim.slaves = [view("auto-1", "busy"), view("auto-2", "busy")];
    for (let i = 0; i < 6; i++) step(queue([{ unknown: 2 }]));
    sim.slaves = [view("auto-1", "idle"), view("auto-2", "idle")];
    let ticks = 0;
    while (step().action !== "drain") ticks++;
    // Ten minutes after the slaves were last seen busy, at 10 s a tick: the 60th tick from then drains.
    expect(ticks).toBe(59);
    sim.slaves = sim.slaves.map((s) => view(s.name, "draining"));
    step();
    sim.slaves = [];
    step();
    step();
    expect(told).toEqual(["grow 0→2 demand", "hold 2→2 within-target", "hold 2→2 idle-lag", "drain 2→0 drain", "shrink 2→0 stop", "hold 0→0 idle"]);
  });
});
