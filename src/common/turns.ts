import { yieldToEventLoop } from "./concurrency.ts";

/**
 * Turns for the event loop during a long run of synchronous steps (file
 * writes, links, copies): timers and sockets (a slave's heartbeat, other
 * slots' logs) would otherwise wait for the whole run. Call the returned
 * function between steps and await it: it resolves after one turn of the
 * loop once `everyMs` passed since the last turn, and is a no-op otherwise.
 * The caller must hold nothing across it that other work must not see
 * (see LocalCache.insert: no descriptor open for writing).
 *
 * @example
 *   const turn = loopTurns(10);
 *   for (const file of files) { copyFileSync(file.from, file.to); await turn(); }
 */
export function loopTurns(everyMs: number): () => Promise<void> | undefined {
  let at = performance.now();
  return () => {
    if (performance.now() - at < everyMs) return undefined;
    return yieldToEventLoop().then(() => {
      at = performance.now();
    });
  };
}
