/**
 * Waits `ms`, or less if `signal` aborts first; never throws, so the caller
 * checks the signal itself.
 *
 * @example await sleep(backoffMs, signal); if (signal.aborted) return;
 */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  if (signal?.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener("abort", done, { once: true });
  });
}
