import { defineCommand } from "citty";
import { availableParallelism, hostname } from "node:os";
import { join, resolve } from "node:path";
import { Autoscaler } from "../autoscale/autoscaler.ts";
import { DEFAULT_EXEC_TIMEOUT_MS, ExecProvider, checkTemplate } from "../autoscale/exec-provider.ts";
import { LocalProvider } from "../autoscale/local-provider.ts";
import { AutoscaleApi } from "../autoscale/master-api.ts";
import { type AutoscalePolicy, DEFAULT_BOOT_TIMEOUT_MS, DEFAULT_IDLE_LAG_MS, DEFAULT_INTERVAL_MS, DEFAULT_TARGET_MS, DEFAULT_TASK_MS } from "../autoscale/policy.ts";
import type { SlaveProvider } from "../autoscale/provider.ts";
import { loadMemory, saveMemory } from "../autoscale/state-file.ts";
import { authenticatedFetch, configuredCredentials } from "../common/auth/credentials.ts";
import { DtError } from "../common/errors.ts";
import { parseDuration } from "../common/units.ts";
import type { AutoscaleDecision } from "../master/protocol.ts";
import type { ArgvPolicy } from "./argv.ts";
import { type CommandContext, commandContext, defaultDataDir, keyValues, logArgs } from "./context.ts";
import { EXIT } from "./exit-codes.ts";

/** A default as a flag is written: `10m`, `90s`. */
const seconds = (ms: number) => (ms % 60_000 === 0 ? `${ms / 60_000}m` : `${ms / 1000}s`);

export const autoscaleArgs = {
  master: { type: "string", alias: "m", description: "Master URL (or DIST_TEST_MASTER, or [dist_test] master in the config)" },
  provider: { type: "string", description: "local: dt slave processes on this host; exec: your commands resize a cloud group (--exec-resize)", required: true },
  min: { type: "string", description: "Slaves kept with nothing queued", default: "0" },
  max: { type: "string", description: "Slaves never exceeded, starting and held ones included", required: true },
  slots: { type: "string", description: "Tasks per slave: local passes it to its slaves (default cores ÷ --max); exec sizes by it, else by what its slaves report" },
  target: { type: "string", description: "Queued work should be done within this", default: seconds(DEFAULT_TARGET_MS) },
  "default-task-duration": { type: "string", description: "Assumed for a queued task with no duration history", default: seconds(DEFAULT_TASK_MS) },
  "idle-lag": { type: "string", description: "A slave idle this long, with nothing queued for it, is drained and stopped", default: seconds(DEFAULT_IDLE_LAG_MS) },
  "boot-timeout": { type: "string", description: `A start counts this long before its slave registers (default ${seconds(DEFAULT_BOOT_TIMEOUT_MS.local)} local, ${seconds(DEFAULT_BOOT_TIMEOUT_MS.exec)} exec)` },
  interval: { type: "string", description: "Between ticks", default: seconds(DEFAULT_INTERVAL_MS) },
  dimensions: { type: "string", description: "k=v,... of the managed slaves (repeatable: the lists are joined): local gives them to its slaves (os and cpu added); only queued tasks these satisfy count" },
  "slave-prefix": { type: "string", description: "Managed slaves' names start with this (local: names are PREFIX-N, default <host>-auto)" },
  "exec-resize": { type: "string", description: "exec: sets the group's size, run with sh -c; {count} is replaced, quoted" },
  "exec-remove": { type: "string", description: "exec: removes one drained slave, {name} replaced; without it a shrink resizes and the cloud picks which instance goes" },
  "exec-timeout": { type: "string", description: "exec: a command running longer is killed and tried again at the next tick", default: seconds(DEFAULT_EXEC_TIMEOUT_MS) },
  "cache-dir": { type: "string", description: "local: the blob cache the slaves share (or DT_CACHE_DIR, or [isolate] cache_dir)" },
  "log-dir": { type: "string", description: "local: each slave logs to <dir>/<name>.log (default $XDG_DATA_HOME/dt/autoscale/logs)" },
  state: { type: "string", description: "Keep the autoscaler's memory (starts, drains, idle times) in this JSON file, for --once from cron" },
  once: { type: "boolean", description: "One tick: decide, act, print the decision, exit (exec only: local slaves are children of a running autoscaler)" },
  name: { type: "string", description: "Who decides, on the master's page (default: dt autoscale on <host> (<provider>))" },
  ...logArgs,
} as const;

/** Everything `dt autoscale` runs with, checked. */
export interface AutoscaleSettings {
  masterUrl: string;
  name: string;
  policy: AutoscalePolicy;
  intervalMs: number;
  once: boolean;
  statePath: string | undefined;
  provider:
    | { kind: "local"; prefix: string; slots: number; givenDimensions: Record<string, string>; cacheDir: string; logDir: string }
    | { kind: "exec"; resize: string; remove: string | undefined; prefix: string | undefined; timeoutMs: number };
}

function count(text: string, flag: string): number {
  const n = Number(text);
  if (!/^\d+$/.test(text.trim()) || !Number.isSafeInteger(n)) throw new DtError("invalid_input", `${flag}: ${JSON.stringify(text)} is not a whole number`);
  return n;
}

function positiveDuration(text: string, flag: string): number {
  const ms = parseDuration(text, flag);
  if (ms <= 0) throw new DtError("invalid_input", `${flag}: ${JSON.stringify(text)} must be longer than 0`);
  return ms;
}

/** The flags, checked and resolved against the config; throws a DtError naming the flag at fault. */
export function autoscaleSettings(args: Record<string, unknown>, ctx: CommandContext): AutoscaleSettings {
  const str = (key: keyof typeof autoscaleArgs) => (typeof args[key] === "string" ? (args[key] as string) : undefined);
  const kind = str("provider");
  if (kind !== "local" && kind !== "exec") throw new DtError("invalid_input", `--provider: ${JSON.stringify(kind)} is not local or exec`);
  const masterUrl = ctx.config.require("master", str("master"), "--master");
  const min = count(str("min") ?? "0", "--min");
  const max = count(str("max") ?? "", "--max");
  if (max < 1 || min > max) throw new DtError("invalid_input", `--min ${min} --max ${max}: need 0 ≤ min ≤ max and max ≥ 1`);
  const slotsText = str("slots");
  const slots = slotsText === undefined ? undefined : count(slotsText, "--slots");
  if (slots === 0) throw new DtError("invalid_input", "--slots: must be at least 1");
  const given = str("dimensions") ? keyValues(str("dimensions")!.split(",").map((d) => d.trim()).filter(Boolean), "--dimensions") : {};
  const once = args.once === true;
  const bootText = str("boot-timeout");
  const policy: AutoscalePolicy = {
    min, max, slotsPerSlave: slots,
    targetMs: positiveDuration(str("target")!, "--target"),
    defaultTaskMs: positiveDuration(str("default-task-duration")!, "--default-task-duration"),
    idleLagMs: parseDuration(str("idle-lag")!, "--idle-lag"),
    bootTimeoutMs: bootText === undefined ? DEFAULT_BOOT_TIMEOUT_MS[kind] : positiveDuration(bootText, "--boot-timeout"),
    // Local slaves run here, and dt slave adds this host's os and cpu to what it is given.
    dimensions: kind === "local" ? { os: process.platform, cpu: process.arch, ...given } : given,
  };
  const base = { masterUrl, policy, once, intervalMs: positiveDuration(str("interval")!, "--interval"), statePath: str("state") ? resolve(str("state")!) : undefined };
  const name = str("name") ?? `dt autoscale on ${hostname()} (${kind})`;
  if (kind === "local") {
    if (once) throw new DtError("invalid_input", "--once with --provider local: the slaves it starts are its children and would stop with it; run it without --once, or use --provider exec from cron");
    for (const flag of ["exec-resize", "exec-remove"] as const) if (str(flag)) throw new DtError("invalid_input", `--${flag} is for --provider exec`);
    const localSlots = slots ?? Math.max(1, Math.floor(availableParallelism() / max));
    return {
      ...base, name, policy: { ...policy, slotsPerSlave: localSlots },
      provider: {
        kind, prefix: str("slave-prefix") ?? `${hostname()}-auto`, slots: localSlots, givenDimensions: given,
        cacheDir: resolve(ctx.config.get("cacheDir", str("cache-dir"))!),
        logDir: resolve(str("log-dir") ?? join(defaultDataDir(ctx.env, "autoscale"), "logs")),
      },
    };
  }
  const resize = str("exec-resize");
  if (!resize) throw new DtError("invalid_input", "--provider exec needs --exec-resize 'COMMAND … {count}', e.g. 'gcloud compute instance-groups managed resize dt-slaves --size {count} --zone us-central1-a'");
  checkTemplate(resize, "count", "--exec-resize");
  if (str("exec-remove") !== undefined) checkTemplate(str("exec-remove")!, "name", "--exec-remove");
  if (!str("slave-prefix") && Object.keys(given).length === 0) {
    throw new DtError("invalid_input", "--provider exec needs --slave-prefix or --dimensions: they tell the group's slaves from the master's others");
  }
  return {
    ...base, name,
    provider: { kind, resize, remove: str("exec-remove"), prefix: str("slave-prefix"), timeoutMs: positiveDuration(str("exec-timeout")!, "--exec-timeout") },
  };
}

/** The provider the settings name; `dtCommand` overrides how local slaves run dt (tests run src/main.ts). */
export function makeProvider(settings: AutoscaleSettings, ctx: CommandContext, options: { dtCommand?: string[] } = {}): SlaveProvider {
  const p = settings.provider;
  if (p.kind === "local") {
    return new LocalProvider({
      masterUrl: settings.masterUrl, prefix: p.prefix, slots: p.slots, dimensions: p.givenDimensions, cacheDir: p.cacheDir, logDir: p.logDir,
      env: ctx.env, log: ctx.log, command: options.dtCommand,
    });
  }
  return new ExecProvider({ resize: p.resize, remove: p.remove, prefix: p.prefix, dimensions: settings.policy.dimensions, timeoutMs: p.timeoutMs, env: ctx.env, log: ctx.log });
}

/** The autoscaler the settings describe, talking to the master with the configured account. */
export function makeAutoscaler(settings: AutoscaleSettings, ctx: CommandContext, options: { dtCommand?: string[] } = {}): Autoscaler {
  const { statePath } = settings;
  return new Autoscaler({
    api: new AutoscaleApi(settings.masterUrl, { fetch: authenticatedFetch(ctx.config, [settings.masterUrl]), user: configuredCredentials(ctx.config)?.user }),
    provider: makeProvider(settings, ctx, options),
    policy: settings.policy,
    name: settings.name,
    clock: ctx.clock,
    log: ctx.log,
    memory: statePath ? loadMemory(statePath) : undefined,
    saveMemory: statePath ? (memory) => saveMemory(statePath, memory) : undefined,
  });
}

/** `grow 0 → 2: reason [slaves]`, as --once prints it. */
export function decisionLine(d: AutoscaleDecision): string {
  return `${d.action} ${d.from} → ${d.to}: ${d.reason}${d.slaves?.length ? ` [${d.slaves.join(", ")}]` : ""}`;
}

/** `--dimensions` given twice (a unit's arguments and its instance's) joins the two lists. */
export const argvPolicy: ArgvPolicy = { listFlags: ["dimensions"] };

export default defineCommand({
  meta: {
    name: "autoscale",
    description: "Keep a fleet of slaves between --min and --max by the master's queued work: grow to finish it within --target, drain and stop slaves idle past --idle-lag",
  },
  args: autoscaleArgs,
  async run({ args }) {
    const ctx = commandContext(args);
    const settings = autoscaleSettings(args, ctx);
    const scaler = makeAutoscaler(settings, ctx);
    if (settings.once) {
      const result = await scaler.tick();
      await scaler.shutdown({ keepDrains: settings.statePath !== undefined });
      if (!result) throw new DtError("unreachable", `cannot read the queue and slaves of the master at ${settings.masterUrl}`);
      process.stdout.write(args["log-format"] === "json" ? `${JSON.stringify(result.decision)}\n` : `${decisionLine(result.decision)}\n`);
      // Carrying it out failed (a command, a drain): logged above; cron sees it in the exit code.
      if (!result.done) process.exitCode = EXIT.unreachable;
      return;
    }
    const stop = new AbortController();
    const onSignal = (signal: string) => {
      if (!stop.signal.aborted) {
        ctx.log.info(`${signal}: no more decisions${settings.provider.kind === "local" ? "; the slaves drain and exit" : "; the fleet stays as it is"}`);
        stop.abort();
      } else {
        ctx.log.warn(`${signal} again: still waiting for the slaves to drain`);
      }
    };
    const onTerm = () => onSignal("SIGTERM");
    const onInt = () => onSignal("SIGINT");
    process.on("SIGTERM", onTerm);
    process.on("SIGINT", onInt);
    try {
      ctx.log.info(`${settings.name}: ${settings.policy.min}..${settings.policy.max} slaves for ${settings.masterUrl}, a tick every ${settings.intervalMs / 1000} s`, { policy: settings.policy });
      await scaler.run(settings.intervalMs, stop.signal);
      await scaler.shutdown({ keepDrains: settings.statePath !== undefined });
    } finally {
      process.off("SIGTERM", onTerm);
      process.off("SIGINT", onInt);
    }
  },
});
