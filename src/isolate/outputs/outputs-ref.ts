import { DtError } from "../../common/errors.ts";
import { isHash } from "../digest.ts";

/**
 * Where an attempt's outputs are: the digest of an `.isolated` manifest
 * listing the files the command left in ISOLATED_OUTDIR, and the CAS that
 * holds it and them. The field names are luci run_isolated's
 * `outputs_ref` ({isolated, isolatedserver, namespace}), so tools written
 * for Swarming's results read dt's too.
 */
export interface OutputsRef {
  /** SHA-256 of the outputs manifest. */
  isolated: string;
  /** The CAS's root URL, as a slave's lease names it (`isolate_server`). */
  isolatedserver: string;
  /** The hashing namespace; dt's CAS has one. */
  namespace: string;
}

/** dt's CAS holds SHA-256 blobs as they are, uncompressed. */
export const OUTPUTS_NAMESPACE = "sha-256";

/** Longest CAS URL accepted in a report: a host, a port and a path prefix fit many times over. */
const MAX_URL_LENGTH = 2000;

/**
 * Checks an outputs_ref from untrusted JSON (a slave's report): a 64-hex
 * digest, an http(s) URL, a short namespace. null and undefined are "no
 * outputs". Throws `invalid_input` naming `what` and the bad field.
 *
 * @example parseOutputsRef(body.outputs_ref, "outputs_ref")
 */
export function parseOutputsRef(value: unknown, what: string): OutputsRef | null {
  if (value === null || value === undefined) return null;
  if (typeof value !== "object" || Array.isArray(value)) throw new DtError("invalid_input", `${what} must be an object {isolated, isolatedserver, namespace} or null`);
  const v = value as Record<string, unknown>;
  if (!isHash(v.isolated)) throw new DtError("invalid_input", `${what}.isolated must be a SHA-256 digest (64 lowercase hex digits), got ${JSON.stringify(v.isolated)?.slice(0, 100)}`);
  const server = v.isolatedserver;
  if (typeof server !== "string" || server.length > MAX_URL_LENGTH || !isHttpUrl(server)) {
    throw new DtError("invalid_input", `${what}.isolatedserver must be an http(s) URL of at most ${MAX_URL_LENGTH} characters, got ${JSON.stringify(server)?.slice(0, 100)}`);
  }
  const namespace = v.namespace ?? OUTPUTS_NAMESPACE;
  if (typeof namespace !== "string" || !/^[a-z0-9-]{1,64}$/.test(namespace)) {
    throw new DtError("invalid_input", `${what}.namespace must be a short name such as "${OUTPUTS_NAMESPACE}", got ${JSON.stringify(namespace)?.slice(0, 100)}`);
  }
  return { isolated: v.isolated, isolatedserver: server, namespace };
}

function isHttpUrl(text: string): boolean {
  try {
    const url = new URL(text);
    return (url.protocol === "http:" || url.protocol === "https:") && url.username === "" && url.password === "";
  } catch {
    return false;
  }
}
