import { DtError } from "../../common/errors.ts";
import type { AutoscaleDecision } from "../protocol.ts";

/** Decisions kept for the index page: an hour of a busy autoscaler's growing and shrinking. */
export const DECISIONS_KEPT = 50;

const ACTIONS = new Set<AutoscaleDecision["action"]>(["grow", "shrink", "drain", "hold"]);

/**
 * The latest decisions of the autoscalers that report to this master,
 * newest first. In memory: a restarted master shows the decisions made
 * since, and each autoscaler logs its own as well.
 */
export class DecisionLog {
  private readonly decisions: AutoscaleDecision[] = [];
  private added = 0;

  constructor(private readonly kept = DECISIONS_KEPT) {}

  /** Decisions added since start: changes with each, so a live page knows when to show them again. */
  get version(): number {
    return this.added;
  }

  add(decision: AutoscaleDecision): void {
    this.added++;
    this.decisions.unshift(decision);
    if (this.decisions.length > this.kept) this.decisions.length = this.kept;
  }

  list(): AutoscaleDecision[] {
    return [...this.decisions];
  }
}

/** A decision as posted, checked field by field. */
export function parseDecision(value: unknown): AutoscaleDecision {
  if (value === null || typeof value !== "object" || Array.isArray(value)) throw new DtError("invalid_input", "the decision must be a JSON object {at, autoscaler, action, from, to, reason}");
  const d = value as Record<string, unknown>;
  const count = (v: unknown, what: string) => {
    if (typeof v !== "number" || !Number.isInteger(v) || v < 0 || v > 100_000) throw new DtError("invalid_input", `${what} must be an integer from 0 to 100000`);
    return v;
  };
  const text = (v: unknown, what: string, max: number) => {
    if (typeof v !== "string" || v.length === 0 || v.length > max) throw new DtError("invalid_input", `${what} must be a string of 1 to ${max} characters`);
    return v;
  };
  if (typeof d.at !== "number" || !Number.isSafeInteger(d.at) || d.at < 0) throw new DtError("invalid_input", "at must be epoch milliseconds");
  if (typeof d.action !== "string" || !ACTIONS.has(d.action as AutoscaleDecision["action"])) throw new DtError("invalid_input", "action must be grow, shrink, drain or hold");
  const slaves = d.slaves === undefined ? undefined : d.slaves;
  if (slaves !== undefined && (!Array.isArray(slaves) || slaves.length > 1000 || slaves.some((s) => typeof s !== "string" || s.length > 200))) {
    throw new DtError("invalid_input", "slaves must be a list of at most 1000 slave names");
  }
  return {
    at: d.at, autoscaler: text(d.autoscaler, "autoscaler", 200), action: d.action as AutoscaleDecision["action"],
    from: count(d.from, "from"), to: count(d.to, "to"), reason: text(d.reason, "reason", 2000),
    ...(slaves === undefined ? {} : { slaves: slaves as string[] }),
  };
}
