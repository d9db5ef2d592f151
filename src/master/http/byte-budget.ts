import { DtError } from "../../common/errors.ts";

/**
 * How many bytes of request bodies may be in memory at once, shared by the
 * requests that take from it: a request waits (its body unread, held back
 * by TCP) until what the others hold leaves room for its own, and holds it
 * until it has answered. One request is always let in, however big, when
 * nothing else holds any: the budget bounds the sum, never one body (that
 * is the endpoint's own limit). First come, first served, so a big body is
 * not passed over for ever by small ones.
 *
 * @example
 *   const release = await budget.take(declaredBytes, c.req.raw.signal, "POST result");
 *   try { ... } finally { release(); }
 */
export class ByteBudget {
  private held = 0;
  private readonly waiting: { bytes: number; admit: () => void }[] = [];

  constructor(readonly limitBytes: number) {}

  /** Requests waiting for room (for tests and metrics). */
  get waiters(): number {
    return this.waiting.length;
  }

  /** Bytes held by the requests let in. */
  get heldBytes(): number {
    return this.held;
  }

  /** Waits for room for `bytes`, then holds them until the returned release is called (once; later calls do nothing). */
  async take(bytes: number, signal: AbortSignal | undefined, what: string): Promise<() => void> {
    if (this.waiting.length > 0 || !this.fits(bytes)) {
      await new Promise<void>((resolve, reject) => {
        const waiter = { bytes, admit: () => { signal?.removeEventListener("abort", onAbort); resolve(); } };
        const onAbort = () => {
          const at = this.waiting.indexOf(waiter);
          if (at >= 0) this.waiting.splice(at, 1);
          this.admitWaiting();
          reject(new DtError("unreachable", `${what}: the client went away while the request waited for memory`));
        };
        if (signal?.aborted) return onAbort();
        signal?.addEventListener("abort", onAbort, { once: true });
        this.waiting.push(waiter);
      });
    } else {
      this.held += bytes;
    }
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.held -= bytes;
      this.admitWaiting();
    };
  }

  private fits(bytes: number): boolean {
    return this.held === 0 || this.held + bytes <= this.limitBytes;
  }

  /** Lets in, in order, the waiters that now fit; the first that does not fit stops the line. */
  private admitWaiting(): void {
    while (this.waiting.length > 0 && this.fits(this.waiting[0]!.bytes)) {
      const next = this.waiting.shift()!;
      this.held += next.bytes;
      next.admit();
    }
  }
}
