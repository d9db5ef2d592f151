/**
 * Logs and artifact archives of attempts, under dist_test's key names
 * (`<job>.<task>.<attempt>.stdout`, `…-artifacts.zip`). The seam between the
 * master and where those bytes live: a local directory now, S3 next; every
 * implementation passes test/master/artifact-store.conformance.ts.
 */
export interface ArtifactStore {
  /** Stores `body` under `key`, replacing any earlier object; visible only once complete. */
  put(key: string, body: ReadableStream<Uint8Array> | Uint8Array): Promise<{ size: number }>;
  /** The object, or null. */
  get(key: string): Promise<{ size: number; body: Blob | ReadableStream<Uint8Array> } | null>;
  /** A link a browser or client can open; `masterUrl` is the master's public URL. */
  link(key: string, masterUrl: string): string;
}

const KEY_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,400}$/;

/** Keys come from job ids, task ids and attempt numbers; anything else is refused, so a key is never a path. */
export function isArtifactKey(key: string): boolean {
  return KEY_RE.test(key) && !key.includes("..");
}
