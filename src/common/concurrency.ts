/**
 * Runs `fn` over `items` with at most `limit` calls in flight; results keep
 * the order of `items`. After the first failure no new call starts, and the
 * returned promise settles only once the calls in flight have ended, so no
 * work outlives it (e.g. a download finishing into a cache already closed);
 * it then rejects with that first failure.
 *
 * @example await mapLimit(digests, 8, (d) => upload(d));
 */
export async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  let failure: { error: unknown } | undefined;
  const runner = async () => {
    while (!failure && next < items.length) {
      const index = next++;
      try {
        results[index] = await fn(items[index]!, index);
      } catch (error) {
        failure ??= { error };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, runner));
  if (failure) throw failure.error;
  return results;
}

/**
 * Resolves on a later turn of the event loop, after pending I/O: a long
 * run of work on a synchronous driver (bun:sqlite) awaits this between
 * batches so that requests waiting on sockets get answered meanwhile. A
 * resolved promise would not do: its continuation runs before any I/O.
 *
 * @example for (const batch of batches) { write(batch); await yieldToEventLoop(); }
 */
export function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/**
 * Runs the works given to it one at a time, in the order given: for a
 * check-then-write that must not interleave with another's (two callers
 * each finding no row, then each adding one). A failed work does not stop
 * the next.
 *
 * @example const lock = new SerialLock(); await lock.run(async () => { if (!(await find())) await add(); });
 */
export class SerialLock {
  private tail: Promise<unknown> = Promise.resolve();

  run<T>(work: () => Promise<T>): Promise<T> {
    const result = this.tail.then(work, work);
    this.tail = result.catch(() => {});
    return result;
  }
}
