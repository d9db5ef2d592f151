import { isDtError } from "../common/errors.ts";
import type { BlobStore } from "../isolate/cas/blob-store.ts";
import { CasClient } from "../isolate/cas/client.ts";

/** Manifests bigger than this are not listed on a page: 16 MiB is some 100,000 files, the most a slave uploads. */
export const MAX_LISTED_MANIFEST_BYTES = 16 * 2 ** 20;

/**
 * The one CAS whose outputs manifests the master reads for its pages: the
 * CAS it tells slaves to use (`server`). Refs naming any other URL are
 * shown, not fetched: the URL comes from a slave's report, and the master
 * does not make requests wherever a report points.
 */
export interface OutputsReader {
  server: string;
  /** The manifest's bytes; null when the CAS does not have it or it is bigger than MAX_LISTED_MANIFEST_BYTES. */
  read(hash: string): Promise<Uint8Array | null>;
}

/** Reads from the blob store the master serves itself, at `server`. */
export function storeOutputsReader(store: BlobStore, server: string): OutputsReader {
  return {
    server,
    async read(hash) {
      const size = await store.sizeOf(hash);
      if (size === null || size > MAX_LISTED_MANIFEST_BYTES) return null;
      const read = await store.get(hash);
      return read ? new Uint8Array(await new Response(read.body).arrayBuffer()) : null;
    },
  };
}

/** Reads from a separate isolate server (`dt master --isolate-server`). */
export function casOutputsReader(server: string, fetchFn?: typeof fetch): OutputsReader {
  const cas = new CasClient(server, { fetch: fetchFn, attempts: 1 });
  return {
    server,
    async read(hash) {
      try {
        const bytes = await cas.getBytes(hash);
        return bytes.byteLength > MAX_LISTED_MANIFEST_BYTES ? null : bytes;
      } catch (err) {
        if (isDtError(err, "not_found")) return null;
        throw err;
      }
    },
  };
}
