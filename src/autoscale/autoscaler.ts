import { formatSpan } from "./format.ts";
import type { Clock } from "../common/clock.ts";
import type { Logger } from "../common/log.ts";
import { sleep } from "../common/sleep.ts";
import type { AutoscaleDecision } from "../master/protocol.ts";
import { type Plan, decide } from "./decide.ts";
import { matchDemand } from "./demand.ts";
import { type Fleet, type FleetMemory, emptyMemory, observeFleet } from "./fleet.ts";
import type { AutoscaleApi } from "./master-api.ts";
import type { AutoscalePolicy } from "./policy.ts";
import type { SlaveProvider } from "./provider.ts";

/** The master refuses a decision whose reason or list of slaves is longer (src/master/autoscale/decision-log.ts). */
const MAX_REASON_CHARS = 2000;
const MAX_SLAVES_POSTED = 1000;

export interface AutoscalerOptions {
  api: AutoscaleApi;
  provider: SlaveProvider;
  policy: AutoscalePolicy;
  /** Who decides, as the master's index page shows it: e.g. `dt autoscale on ci-host (local)`. */
  name: string;
  clock: Clock;
  log: Logger;
  /** What an earlier run remembered (`--state`); a fresh memory otherwise. */
  memory?: FleetMemory;
  /** Called after every tick with the memory to keep. */
  saveMemory?: (memory: FleetMemory) => void;
}

/** One tick's outcome: the plan, whether it was carried out, and the decision as reported. */
export interface TickResult {
  plan: Plan;
  decision: AutoscaleDecision;
  /** False when carrying it out failed (a provider command, a drain); the next tick decides again. */
  done: boolean;
  /** False for a hold whose reason did not change since the last one reported. */
  reported: boolean;
}

/**
 * `dt autoscale`'s loop: each tick reads the master's queue demand and
 * slaves, decides (decide.ts) and carries the decision out through the
 * master (drain, resume) and the provider (start, stop). Every decision but
 * an unchanged hold is logged and posted to the master. A failure is
 * logged and the next tick tries again: nothing here ends the loop but the
 * signal.
 *
 * @example
 *   const scaler = new Autoscaler({ api, provider, policy, name, clock, log });
 *   await scaler.run(10_000, signal);
 *   await scaler.shutdown();
 */
export class Autoscaler {
  memory: FleetMemory;

  constructor(private readonly o: AutoscalerOptions) {
    this.memory = o.memory ?? emptyMemory();
  }

  get provider(): SlaveProvider {
    return this.o.provider;
  }

  /** Ticks every `intervalMs` until `signal` aborts; a tick under way finishes first. */
  async run(intervalMs: number, signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      // A tick's own failures are logged where they happen; anything else is a bug, logged, and the loop goes on.
      await this.tick().catch((err) => this.o.log.error(`tick failed: ${(err as Error).stack ?? err}`));
      await sleep(intervalMs, signal);
    }
  }

  /** One look, decision and action; null when the master could not be read. */
  async tick(): Promise<TickResult | null> {
    const { api, provider, policy, log, clock } = this.o;
    let demand, slaves;
    try {
      [demand, slaves] = await Promise.all([api.queue(), api.slaves()]);
    } catch (err) {
      log.warn(`cannot read the master's queue and slaves: ${(err as Error).message}; trying again at the next tick`);
      return null;
    }
    const now = clock.now();
    const seen = observeFleet(this.memory, slaves.filter((s) => provider.manages(s)), now, { bootTimeoutMs: policy.bootTimeoutMs, members: provider.members() });
    this.memory = seen.memory;
    for (const start of seen.failed) log.warn(`slave ${start.name} exited before it registered with the master; no longer counted`, { slave: start.name });
    for (const start of seen.expired) {
      log.warn(`a slave started ${formatSpan(now - start.at)} ago${start.name ? ` (${start.name})` : ""} has not registered with the master within --boot-timeout ${formatSpan(policy.bootTimeoutMs)}; no longer counted`, { slave: start.name });
      // A local process that never registered is stuck: it has no task to lose.
      if (start.name !== undefined) await provider.stop([start.name], 0).catch(() => {});
    }
    await this.upkeep(seen.fleet);

    const plan = decide(policy, seen.fleet, matchDemand(demand, policy.dimensions), now);
    const result = await this.carryOut(plan, seen.fleet, now);
    this.o.saveMemory?.(this.memory);
    return result;
  }

  /**
   * The autoscaler stops. Local: its slave processes drain and exit (they
   * are its children), reported as one shrink. Exec: the fleet stays; slaves
   * it was draining take work again unless a state file carries the drain
   * on to the next run.
   */
  async shutdown(options: { keepDrains?: boolean } = {}): Promise<void> {
    const { provider, log } = this.o;
    const members = provider.members();
    if (members !== undefined) {
      if (members.size > 0) {
        const names = [...members].sort();
        await this.report({ action: "shrink", from: members.size, to: 0, reason: "dt autoscale is stopping: its slaves finish their running tasks and exit", slaves: names, at: this.o.clock.now(), autoscaler: this.o.name });
      }
    } else if (!options.keepDrains) {
      for (const name of Object.keys(this.memory.removing)) {
        await this.o.api.resume(name, "dt autoscale stopped before removing it").then(
          () => {
            delete this.memory.removing[name];
            log.info(`slave ${name}: drain lifted, the autoscaler stops`, { slave: name });
          },
          (err) => log.warn(`slave ${name} stays drained: ${(err as Error).message}`, { slave: name }),
        );
      }
    }
    await provider.close();
    this.o.saveMemory?.(this.memory);
  }

  /** Drains the master forgot are asked again; slaves the cloud left after a plain resize take work again. */
  private async upkeep(fleet: Fleet): Promise<void> {
    const { api, log } = this.o;
    for (const name of fleet.undrained) {
      await api.drain(name, this.drainReason()).then(
        () => log.info(`slave ${name}: drained again (the master showed it taking work)`, { slave: name }),
        (err) => log.warn(`slave ${name}: cannot drain it again: ${(err as Error).message}`, { slave: name }),
      );
    }
    for (const name of fleet.survivors) {
      if (this.o.provider.removesByName) {
        // Still calling the master a boot grace after its stop: counted again (held by its drain), for an operator to see to.
        delete this.memory.released[name];
        log.warn(`slave ${name} still calls the master ${formatSpan(this.o.policy.bootTimeoutMs)} after it was stopped; counted again`, { slave: name });
        continue;
      }
      await api.resume(name, "the cloud removed other instances at the resize; this one takes work again").then(
        () => {
          delete this.memory.released[name];
          log.warn(`slave ${name} outlived the resize that was to remove it (the cloud picked others): it takes work again; --exec-remove removes the very slaves drained`, { slave: name });
        },
        (err) => log.warn(`slave ${name}: cannot resume it: ${(err as Error).message}`, { slave: name }),
      );
    }
  }

  private async carryOut(plan: Plan, fleet: Fleet, now: number): Promise<TickResult> {
    const { api, provider, log } = this.o;
    const memory = this.memory;
    const involved: string[] = [];
    let failure: Error | undefined;
    const fail = (err: unknown) => (failure ??= err as Error);
    // What a cloud group holds: every live slave of the fleet (held and draining ones too) and the starts under way.
    const machines = fleet.slaves.length + fleet.pending.length + fleet.missing.length;

    for (const name of plan.resume) {
      await api.resume(name, "dt autoscale: work is queued again").then(() => {
        delete memory.removing[name];
        involved.push(name);
      }, fail);
    }
    if (plan.start > 0) {
      await provider.start(plan.start, machines + plan.start).then((names) => {
        if (names) {
          for (const name of names) memory.pending.push({ at: now, name });
          involved.push(...names);
        } else {
          for (let i = 0; i < plan.start; i++) memory.pending.push({ at: now });
        }
      }, fail);
    }
    for (const name of plan.drain) {
      await api.drain(name, this.drainReason()).then(() => {
        memory.removing[name] = now;
        involved.push(name);
      }, fail);
    }
    if (plan.stop.length > 0) {
      await provider.stop(plan.stop, machines + fleet.gone.length - plan.stop.length).then(({ stopped, error }) => {
        for (const name of stopped) {
          delete memory.removing[name];
          if (!fleet.gone.includes(name)) memory.released[name] = now;
        }
        involved.push(...stopped);
        if (error) fail(error);
      }, fail);
    }

    const decision: AutoscaleDecision = {
      at: now, autoscaler: this.o.name, action: plan.action, from: plan.from, to: plan.to, reason: plan.reason,
      ...(involved.length > 0 ? { slaves: involved } : {}),
    };
    if (failure) {
      log.error(`${plan.action} ${plan.from} → ${plan.to} failed: ${failure.message}; deciding again at the next tick`, { action: plan.action, from: plan.from, to: plan.to, reason: plan.reason });
      memory.lastHoldKey = null;
      // Done for some slaves: that part is a decision carried out, and the page should show it.
      if (involved.length > 0) await this.report({ ...decision, reason: `${decision.reason}; done for ${involved.join(", ")} only: ${failure.message}` });
      return { plan, decision, done: false, reported: involved.length > 0 };
    }
    const reported = plan.action !== "hold" || plan.key !== memory.lastHoldKey;
    memory.lastHoldKey = plan.action === "hold" ? plan.key : null;
    if (reported) await this.report(decision);
    return { plan, decision, done: true, reported };
  }

  /** Logs the decision (json logs carry its fields) and posts it to the master; a failed post is logged, not fatal. */
  private async report(decision: AutoscaleDecision): Promise<void> {
    const { api, log } = this.o;
    const slaves = decision.slaves?.length ? ` [${decision.slaves.join(", ")}]` : "";
    const line = `${decision.action} ${decision.from} → ${decision.to}: ${decision.reason}${slaves}`;
    const fields = { action: decision.action, from: decision.from, to: decision.to, reason: decision.reason, slaves: decision.slaves ?? [] };
    log.info(line, fields);
    // Within what the master takes (parseDecision): a reason of 2000 characters, 1000 slaves.
    const posted = { ...decision, reason: decision.reason.slice(0, MAX_REASON_CHARS), ...(decision.slaves ? { slaves: decision.slaves.slice(0, MAX_SLAVES_POSTED) } : {}) };
    await api.postDecision(posted).catch((err) => log.warn(`cannot post the decision to the master: ${(err as Error).message}`));
  }

  private drainReason(): string {
    return `${this.o.name}: idle past --idle-lag ${formatSpan(this.o.policy.idleLagMs)}, to be stopped`;
  }
}
