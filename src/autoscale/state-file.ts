import { readFileSync, renameSync, writeFileSync } from "node:fs";
import { DtError, errnoCode } from "../common/errors.ts";
import { type FleetMemory, emptyMemory } from "./fleet.ts";

/**
 * The autoscaler's memory in a JSON file (`--state`), so that runs of
 * `dt autoscale --once` from cron carry pending starts, drains and idle
 * clocks from one to the next. A missing file is a fresh start.
 */
export function loadMemory(path: string): FleetMemory {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    if (errnoCode(err) === "ENOENT") return emptyMemory();
    throw new DtError("invalid_input", `--state ${path}: cannot read it (${(err as Error).message})`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = undefined;
  }
  const m = parsed as Partial<FleetMemory> | undefined;
  const isRecord = (v: unknown) => v !== null && typeof v === "object" && !Array.isArray(v);
  if (!isRecord(m) || !Array.isArray(m!.pending) || !isRecord(m!.removing) || !isRecord(m!.lastBusyAt)) {
    throw new DtError("invalid_input", `--state ${path} is not an autoscaler state file; remove it to start afresh`);
  }
  return { ...emptyMemory(), ...m };
}

/** Writes the memory whole: to a temporary file, renamed over the old one, so a crash leaves one or the other. */
export function saveMemory(path: string, memory: FleetMemory): void {
  const temp = `${path}.tmp`;
  writeFileSync(temp, `${JSON.stringify(memory)}\n`);
  renameSync(temp, path);
}
