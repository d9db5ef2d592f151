import { DtError } from "../common/errors.ts";
import type { Logger } from "../common/log.ts";
import { dimensionsMatch } from "../master/scheduler/fair-queue.ts";
import type { SlaveView } from "../master/protocol.ts";
import type { SlaveProvider, StopResult } from "./provider.ts";

/** Five minutes: `gcloud … resize` and `aws autoscaling …` answer within a minute, a stuck one is killed and tried again at the next tick. */
export const DEFAULT_EXEC_TIMEOUT_MS = 5 * 60_000;
/** Output kept per command for the log: a CLI's error is in its last lines. */
const OUTPUT_KEPT = 4000;

export interface ExecProviderOptions {
  /** Sets the group's desired size: `… {count}`. */
  resize: string;
  /** Removes one drained slave by name (and lowers the desired size): `… {name}`; without it a shrink resizes and the cloud picks. */
  remove?: string;
  /** Only the master's slaves named so belong to the group. */
  prefix?: string;
  /** Only the master's slaves with all of these belong to the group. */
  dimensions: Record<string, string>;
  timeoutMs: number;
  env: Record<string, string | undefined>;
  log: Logger;
}

/** `value` as one shell word: single-quoted, a quote inside written '\''. */
export function shellQuote(value: string): string {
  return `'${value.replaceAll("'", `'\\''`)}'`;
}

/**
 * `template` with `{name}` placeholders replaced by their values, each
 * quoted as one shell word, so a value cannot break out of its place.
 *
 * @example fillCommand("resize dt --size {count}", { count: "3" }) // "resize dt --size '3'"
 */
export function fillCommand(template: string, values: Record<string, string>): string {
  return template.replace(/\{(\w+)\}/g, (whole, key: string) => (key in values ? shellQuote(values[key]!) : whole));
}

/** Checks a command template names the placeholder it needs, at start rather than at the first shrink. */
export function checkTemplate(template: string, placeholder: string, flag: string): void {
  if (!template.includes(`{${placeholder}}`)) throw new DtError("invalid_input", `${flag} ${JSON.stringify(template)} must contain {${placeholder}}, e.g. --exec-resize 'gcloud compute instance-groups managed resize dt-slaves --size {count} --zone us-central1-a'`);
}

/**
 * A cloud group of slave machines driven by the operator's commands, run
 * with `sh -c`: `resize` sets the desired count, `remove` (optional)
 * deletes one drained slave. The group's slaves are the master's live
 * slaves with the prefix and dimensions given. A failing command is an
 * error for this tick; the autoscaler tries again at the next.
 */
export class ExecProvider implements SlaveProvider {
  readonly kind = "exec";
  readonly removesByName: boolean;

  constructor(private readonly o: ExecProviderOptions) {
    checkTemplate(o.resize, "count", "--exec-resize");
    if (o.remove !== undefined) checkTemplate(o.remove, "name", "--exec-remove");
    this.removesByName = o.remove !== undefined;
  }

  manages(slave: SlaveView): boolean {
    return (this.o.prefix === undefined || slave.name.startsWith(this.o.prefix)) && dimensionsMatch(this.o.dimensions, slave.dimensions);
  }

  members(): undefined {
    return undefined;
  }

  async start(_count: number, total: number): Promise<undefined> {
    await this.run(fillCommand(this.o.resize, { count: String(total) }), `resize to ${total}`);
    return undefined;
  }

  async stop(names: readonly string[], total: number): Promise<StopResult> {
    const remove = this.o.remove;
    if (remove === undefined) {
      await this.run(fillCommand(this.o.resize, { count: String(total) }), `resize to ${total}`);
      return { stopped: [...names] };
    }
    const stopped: string[] = [];
    let error: Error | undefined;
    for (const name of names) {
      try {
        await this.run(fillCommand(remove, { name }), `remove ${name}`);
        stopped.push(name);
      } catch (err) {
        error ??= err as Error;
      }
    }
    if (stopped.length === 0 && error) throw error;
    return { stopped, error };
  }

  async close(): Promise<void> {}

  private async run(command: string, what: string): Promise<void> {
    const { log, timeoutMs, env } = this.o;
    log.info(`${what}: ${command}`, { command });
    const child = Bun.spawn(["sh", "-c", command], { stdin: "ignore", stdout: "pipe", stderr: "pipe", env, detached: true });
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      try {
        // Its own process group: the CLI and whatever it started go together.
        process.kill(-child.pid, "SIGKILL");
      } catch {
        // Gone meanwhile.
      }
    }, timeoutMs);
    const [stdout, stderr, code] = await Promise.all([new Response(child.stdout).text(), new Response(child.stderr).text(), child.exited]).finally(() => clearTimeout(timer));
    const output = `${stdout}${stderr}`.trim().slice(-OUTPUT_KEPT);
    if (output) log.info(`${what}: ${output}`, { command, output });
    if (timedOut) throw new DtError("unreachable", `${what}: ${JSON.stringify(command)} took longer than ${timeoutMs / 1000} s and was killed; tried again at the next tick`);
    if (code !== 0) throw new DtError("unreachable", `${what}: ${JSON.stringify(command)} exited ${code}${output ? `: ${output.split("\n").at(-1)}` : ""}; tried again at the next tick`);
  }
}
