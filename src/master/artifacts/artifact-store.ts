import { DtError } from "../../common/errors.ts";

/**
 * Logs and artifact archives of attempts, under dist_test's key names
 * (`<job>.<task>.<attempt>.stdout`, `…-artifacts.zip`). The seam between the
 * master and where those bytes live (a local directory, S3); every
 * implementation passes test/master/artifact-store.conformance.ts.
 */
export interface ArtifactStore {
  /**
   * Stores `body` under `key`, replacing any earlier object; visible only
   * once complete. `size` is a stream's length when known (the request's
   * Content-Length): S3 needs it up front, and a body of another length is
   * refused.
   */
  put(key: string, body: ReadableStream<Uint8Array> | Uint8Array, size?: number): Promise<{ size: number }>;
  /** The object, or null. */
  get(key: string): Promise<{ size: number; body: Blob | ReadableStream<Uint8Array> } | null>;
  /**
   * A link a browser or client can open; `masterUrl` is the master's public
   * URL. The master's own link (masterArtifactLink) for a local store; a
   * presigned S3 URL for S3.
   */
  link(key: string, masterUrl: string): Promise<string>;
  /**
   * Resolves when the store can be used now (a directory: there and
   * writable; S3: the bucket answers); rejects with a DtError saying what is
   * wrong otherwise. For readiness probes: callers bound the wait themselves.
   */
  ping(): Promise<void>;
  close(): Promise<void>;
}

const KEY_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,400}$/;

/** Keys come from job ids, task ids and attempt numbers; anything else is refused, so a key is never a path. */
export function isArtifactKey(key: string): boolean {
  return KEY_RE.test(key) && !key.includes("..");
}

/** The key, or DtError invalid_input when it is not one (see isArtifactKey). */
export function checkArtifactKey(key: string): string {
  if (!isArtifactKey(key)) throw new DtError("invalid_input", `artifact key ${JSON.stringify(key.slice(0, 80))} is not a valid key`);
  return key;
}

/** The master's `GET /api/v1/artifacts/<key>`, which serves any store's objects: the link that works wherever the store is. */
export function masterArtifactLink(key: string, masterUrl: string): string {
  return `${masterUrl.replace(/\/+$/, "")}/api/v1/artifacts/${encodeURIComponent(key)}`;
}

/** What an object is served as: archives are zips, everything else a log. */
export function artifactContentType(key: string): string {
  return key.endsWith(".zip") ? "application/zip" : "text/plain; charset=utf-8";
}
