import type { Clock } from "../common/clock.ts";
import { freeDiskBytes } from "../common/disk.ts";
import type { Logger } from "../common/log.ts";
import { formatBytes } from "../common/units.ts";
import type { ReportedState } from "../master/model.ts";
import type { SlaveCommand, SlaveHold } from "../master/protocol.ts";
import type { AbortReason } from "./outcome.ts";

export interface HealthLimits {
  /**
   * Below this many free bytes on the filesystem of the cache or of the run
   * directories, the slave quarantines itself. 1 GiB: the cache evicts to
   * keep 2 GiB free (DEFAULT_CACHE_LIMITS), so falling under half of that
   * means the disk fills from elsewhere and the next tree or log may not fit.
   */
  minFreeBytes: number;
  /**
   * Infrastructure failures in a row (a fetch that fails, a spawn that
   * fails, a log that cannot be written) after which the slave quarantines
   * itself. 3: one is a blip and two can be a bad tree, but three tasks in a
   * row failing on this slave say the slave is the trouble.
   */
  maxInfraFailures: number;
  /**
   * How long a quarantine for infrastructure failures lasts before the slave
   * tries again, ms; 0 keeps it until an operator resumes the slave. Ten
   * minutes: a CAS that was down for a while does not leave the whole fleet
   * quarantined for good.
   */
  infraCooldownMs: number;
}

export const DEFAULT_HEALTH_LIMITS: HealthLimits = { minFreeBytes: 2 ** 30, maxInfraFailures: 3, infraCooldownMs: 600_000 };

export interface SlaveHealthOptions {
  /** The cache directory and the run directories' root: the disks a task needs room on. */
  paths: string[];
  limits: HealthLimits;
  clock: Clock;
  log: Logger;
  /** Free bytes for unprivileged users on the filesystem of `path`; statfs by default (tests inject). */
  freeBytes?: (path: string) => Promise<number>;
}

/**
 * Whether this slave should take work, and why not: the operator's drain or
 * quarantine (until resumed), and the slave's own quarantine when its disk
 * is short (lifted as soon as the disk has room again) or after
 * `maxInfraFailures` infrastructure failures in a row (lifted after the
 * cooldown, or by an operator's resume). The hold it reports goes to the
 * master with every call, so the master's registry shows it and hands the
 * slave nothing while it lasts.
 */
export class SlaveHealth {
  private operator: SlaveHold | undefined;
  private disk: SlaveHold | undefined;
  private infra: SlaveHold | undefined;
  private infraFailures: string[] = [];
  private readonly listeners = new Set<() => void>();

  constructor(private readonly o: SlaveHealthOptions) {}

  /** What keeps the slave from taking work now; the operator's hold first, as it is the one a person is waiting on. */
  hold(): SlaveHold | undefined {
    if (this.infra && this.o.limits.infraCooldownMs > 0 && this.o.clock.now() - this.infra.since >= this.o.limits.infraCooldownMs) {
      this.o.log.info(`quarantine lifted: ${Math.round(this.o.limits.infraCooldownMs / 1000)} s passed since ${this.infra.reason}`);
      this.infra = undefined;
      this.infraFailures = [];
      this.changed();
    }
    return this.operator ?? this.disk ?? this.infra;
  }

  /** Called when the hold may have changed, so a waiting lease loop looks again. */
  onChange(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Checks the free space of every path; quarantines or lifts the disk quarantine. */
  async checkDisk(): Promise<void> {
    const short: string[] = [];
    for (const path of this.o.paths) {
      let free: number;
      try {
        free = await (this.o.freeBytes ?? freeDiskBytes)(path);
      } catch (err) {
        short.push(`${path} cannot be checked (${(err as Error).message})`);
        continue;
      }
      if (free < this.o.limits.minFreeBytes) short.push(`${path} has ${formatBytes(free)} free, under the ${formatBytes(this.o.limits.minFreeBytes)} a task needs`);
    }
    if (short.length > 0 && !this.disk) {
      this.disk = { kind: "quarantine", by: "self", reason: `disk: ${short.join("; ")}`, since: this.o.clock.now() };
      this.o.log.warn(`quarantined: ${this.disk.reason}; taking no work until there is room`);
      this.changed();
    } else if (short.length === 0 && this.disk) {
      this.o.log.info(`disk quarantine lifted: every path has ${formatBytes(this.o.limits.minFreeBytes)} free again`);
      this.disk = undefined;
      this.changed();
    }
  }

  /**
   * An attempt ended on this slave. INFRA_FAILED that the slave did not
   * cause on purpose (a drain, a lease taken back) counts towards the
   * quarantine; any attempt whose test ran to an answer resets the count.
   */
  attemptEnded(state: ReportedState, message: string | null, abort: AbortReason | undefined): void {
    if (isOwnInfraFailure(state, abort)) {
      this.infraFailures.push(message ?? "no message");
      if (this.infraFailures.length >= this.o.limits.maxInfraFailures && !this.infra) {
        const last = this.infraFailures.slice(-this.o.limits.maxInfraFailures);
        this.infra = {
          kind: "quarantine", by: "self", since: this.o.clock.now(),
          reason: `${last.length} infrastructure failures in a row; the last: ${last[last.length - 1]!.slice(0, 500)}`,
        };
        const until = this.o.limits.infraCooldownMs > 0 ? `for ${Math.round(this.o.limits.infraCooldownMs / 1000)} s or until resumed` : "until an operator resumes it";
        this.o.log.warn(`quarantined ${until}: ${this.infra.reason}`);
        this.changed();
      }
    } else if (state === "SUCCEEDED" || state === "FAILED" || state === "TIMED_OUT") {
      this.infraFailures = [];
    }
  }

  /** An operator's instruction from the master. */
  command(command: SlaveCommand): void {
    if (command.action === "resume") {
      if (!this.operator && !this.infra && !this.disk) return;
      this.o.log.info(`resumed by an operator: ${command.reason}`);
      this.operator = undefined;
      this.infra = undefined;
      this.infraFailures = [];
      // The disk is looked at again at once: a resume does not make room.
      this.disk = undefined;
      this.changed();
      void this.checkDisk();
      return;
    }
    if (this.operator?.kind === command.action) return;
    this.operator = { kind: command.action, by: "operator", reason: command.reason, since: this.o.clock.now() };
    this.o.log.warn(`${command.action === "drain" ? "draining" : "quarantined"} by an operator: ${command.reason}; running tasks finish, no new ones start`);
    this.changed();
  }

  private changed(): void {
    for (const listener of this.listeners) listener();
  }
}

/**
 * An attempt that failed for this slave's own infrastructure reasons: what
 * counts towards its quarantine and its dt_slave_infra_failures_total. Not
 * an INFRA_FAILED the slave caused on purpose (a drain, a lease taken back).
 */
export function isOwnInfraFailure(state: ReportedState, abort: AbortReason | undefined): boolean {
  return state === "INFRA_FAILED" && abort === undefined;
}
