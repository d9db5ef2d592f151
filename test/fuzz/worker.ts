/**
 * The worker side of fuzzInWorker: imports the target named in the first
 * message, runs it for the budget, and posts back the report or the failure.
 */
import { type FuzzLimits, type FuzzSettings, type FuzzTarget, runTarget } from "./harness.ts";

declare const self: Worker;

interface Start {
  module: string;
  exportName: string;
  settings: FuzzSettings;
  progress: SharedArrayBuffer;
  /** A fresh directory for the target's files. */
  dir: string;
  limits: FuzzLimits;
}

self.onmessage = async (event: MessageEvent<Start>) => {
  const { module, exportName, settings, progress, dir, limits } = event.data;
  try {
    const target = ((await import(module)) as Record<string, FuzzTarget<unknown> | undefined>)[exportName];
    if (!target) throw new Error(`${module} exports no fuzz target ${exportName}`);
    self.postMessage(await runTarget(target, settings, new Int32Array(progress), dir, limits));
  } catch (err) {
    self.postMessage({ error: (err as Error)?.stack ?? String(err) });
  }
};
