import type { Clock } from "../../common/clock.ts";
import { DtError } from "../../common/errors.ts";
import { isS3Url } from "../../common/s3-location.ts";
import type { BlobStore } from "./blob-store.ts";
import { FsBlobStore } from "./fs-blob-store.ts";

export interface BlobStoreSpec {
  /** `s3://bucket/prefix`, or undefined for the directory `dir`. */
  store: string | undefined;
  /** The flag `store` came from, for errors. */
  flag: string;
  dir: string;
  /** An S3-compatible endpoint (already resolved from --s3-endpoint and the environment). */
  s3Endpoint?: string;
  clock: Clock;
}

/**
 * The CAS's store: a directory, or an S3 bucket. The AWS SDK is loaded only
 * for an `s3://` store, so a filesystem CAS starts without it.
 */
export async function openBlobStore(spec: BlobStoreSpec): Promise<BlobStore> {
  if (spec.store === undefined) return FsBlobStore.open(spec.dir, spec.clock);
  if (!isS3Url(spec.store)) throw new DtError("invalid_input", `${spec.flag} ${JSON.stringify(spec.store)}: expected s3://BUCKET/PREFIX (a local store is a directory: --data-dir)`);
  const [{ openS3Store }, { S3BlobStore }] = await Promise.all([import("../../common/s3.ts"), import("./s3-blob-store.ts")]);
  return openS3Store(spec.store, spec.flag, { endpoint: spec.s3Endpoint }, (s3, location) => S3BlobStore.open({ s3, location, clock: spec.clock }));
}
