import type { SlaveInfo } from "../model.ts";
import type { SlaveIdentity } from "../protocol.ts";
import { dimensionsMatch } from "./fair-queue.ts";

/**
 * The slaves the master has heard from, with when. A slave counts as live
 * while it has called (lease, heartbeat) within `liveForMs` and no lease of
 * it has lapsed since; the registry is rebuilt from these calls after a
 * restart.
 */
export class SlaveRegistry {
  private readonly slaves = new Map<string, SlaveInfo>();

  constructor(private readonly liveForMs: number) {}

  seen(identity: SlaveIdentity, now: number, busy: boolean): SlaveInfo {
    const known = this.slaves.get(identity.name);
    const info: SlaveInfo = {
      name: identity.name,
      dimensions: identity.dimensions,
      slots: identity.slots,
      version: identity.version,
      state: identity.draining ? "draining" : busy ? "busy" : "idle",
      lastSeenAt: now,
      registeredAt: known?.registeredAt ?? now,
    };
    this.slaves.set(identity.name, info);
    return info;
  }

  /** A slave whose lease lapsed: lost at once, until it calls again. */
  markLost(name: string): void {
    const known = this.slaves.get(name);
    if (known) this.slaves.set(name, { ...known, state: "lost" });
  }

  /** Every known slave; those not heard from within the bound read "lost". */
  list(now: number): SlaveInfo[] {
    return [...this.slaves.values()].map((s) => (this.isLive(s, now) ? s : { ...s, state: "lost" as const }));
  }

  isLive(slave: SlaveInfo, now: number): boolean {
    return slave.state !== "lost" && now - slave.lastSeenAt <= this.liveForMs;
  }

  /** True when some live, non-draining slave has all of `dimensions`. */
  canRun(dimensions: Record<string, string>, now: number): boolean {
    for (const s of this.slaves.values()) {
      if (s.state !== "draining" && this.isLive(s, now) && dimensionsMatch(dimensions, s.dimensions)) return true;
    }
    return false;
  }

  liveSlots(now: number): number {
    let slots = 0;
    for (const s of this.slaves.values()) if (s.state !== "draining" && this.isLive(s, now)) slots += s.slots;
    return slots;
  }
}
