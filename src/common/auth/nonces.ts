import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import type { Clock } from "../clock.ts";

/**
 * Five minutes: long enough that a busy slave asks for a new nonce a few
 * times an hour (one extra round trip each), short enough that a captured
 * response is worthless soon after.
 */
export const NONCE_TTL_MS = 5 * 60_000;
/** Nonce counts may arrive out of order (concurrent requests on one nonce); this many below the highest are still accepted once. */
const NC_WINDOW = 1024;
/** Nonces whose counts are remembered; beyond this the oldest are forgotten and treated as stale (about 100 bytes each). */
const MAX_TRACKED_NONCES = 200_000;
/** Clocks of a master's processes agree; a nonce from the future is forged or from another host. */
const FUTURE_SKEW_MS = 5_000;

const STAMP_BYTES = 8;
const RANDOM_BYTES = 12;
const MAC_BYTES = 16;

export type NonceCheck = "ok" | "stale" | "replayed";

interface Counts {
  issuedAtMs: number;
  highest: number;
  seen: Set<number>;
}

/**
 * Issues signed, expiring nonces and remembers which nonce counts each has
 * been used with. A nonce is its issue time, random bytes and an HMAC over
 * both under a key made at start-up: the server keeps nothing per challenge,
 * so unauthenticated clients cannot fill its memory, and after a restart old
 * nonces fail the MAC and are answered `stale=true` (clients retry without
 * asking anyone for a password).
 *
 * @example
 *   const nonces = new NonceBook(clock);
 *   const nonce = nonces.issue();
 *   nonces.use(nonce, 1); // "ok"; again: "replayed"
 */
export class NonceBook {
  private readonly key = randomBytes(32);
  private readonly counts = new Map<string, Counts>();
  /** Nonces issued at or before this were forgotten to bound memory: stale. */
  private forgottenUpToMs = Number.NEGATIVE_INFINITY;
  private lastSweepMs = Number.NEGATIVE_INFINITY;

  constructor(private readonly clock: Clock, private readonly ttlMs = NONCE_TTL_MS) {}

  issue(): string {
    const body = Buffer.alloc(STAMP_BYTES + RANDOM_BYTES);
    body.writeBigUInt64BE(BigInt(Math.max(0, Math.floor(this.clock.now()))));
    randomBytes(RANDOM_BYTES).copy(body, STAMP_BYTES);
    return Buffer.concat([body, this.mac(body)]).toString("base64url");
  }

  /** Whether the nonce is one of ours and still fresh; does not record a use. */
  isFresh(nonce: string): boolean {
    return this.issuedAt(nonce) !== undefined;
  }

  /**
   * Records a use of `nonce` with count `nc`, after its response was found
   * right: "stale" for an expired, forgotten or foreign nonce, "replayed"
   * for a count already used (or too far below the highest).
   */
  use(nonce: string, nc: number): NonceCheck {
    const issuedAtMs = this.issuedAt(nonce);
    if (issuedAtMs === undefined || issuedAtMs <= this.forgottenUpToMs) return "stale";
    let counts = this.counts.get(nonce);
    if (!counts) {
      this.makeRoom();
      counts = { issuedAtMs, highest: 0, seen: new Set() };
      this.counts.set(nonce, counts);
    }
    if (nc <= counts.highest - NC_WINDOW || counts.seen.has(nc)) return "replayed";
    counts.seen.add(nc);
    if (nc > counts.highest) {
      counts.highest = nc;
      if (counts.seen.size > 2 * NC_WINDOW) for (const n of counts.seen) if (n <= nc - NC_WINDOW) counts.seen.delete(n);
    }
    return "ok";
  }

  private issuedAt(nonce: string): number | undefined {
    if (nonce.length > 64 || !/^[A-Za-z0-9_-]+$/.test(nonce)) return undefined;
    const raw = Buffer.from(nonce, "base64url");
    if (raw.length !== STAMP_BYTES + RANDOM_BYTES + MAC_BYTES) return undefined;
    const body = raw.subarray(0, STAMP_BYTES + RANDOM_BYTES);
    if (!timingSafeEqual(raw.subarray(STAMP_BYTES + RANDOM_BYTES), this.mac(body))) return undefined;
    const issuedAtMs = Number(body.readBigUInt64BE());
    const now = this.clock.now();
    if (issuedAtMs > now + FUTURE_SKEW_MS || now - issuedAtMs > this.ttlMs) return undefined;
    return issuedAtMs;
  }

  private mac(body: Buffer): Buffer {
    return createHmac("sha256", this.key).update(body).digest().subarray(0, MAC_BYTES);
  }

  /**
   * Drops expired nonces once per TTL, or at once when full; if still full,
   * forgets the oldest (Map order is first use, close to issue order).
   */
  private makeRoom(): void {
    const now = this.clock.now();
    if (this.counts.size < MAX_TRACKED_NONCES && now - this.lastSweepMs < this.ttlMs) return;
    this.lastSweepMs = now;
    for (const [nonce, c] of this.counts) if (now - c.issuedAtMs > this.ttlMs) this.counts.delete(nonce);
    for (const [nonce, c] of this.counts) {
      if (this.counts.size < MAX_TRACKED_NONCES) break;
      this.forgottenUpToMs = Math.max(this.forgottenUpToMs, c.issuedAtMs);
      this.counts.delete(nonce);
    }
  }
}
