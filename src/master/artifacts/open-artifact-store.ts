import type { Clock } from "../../common/clock.ts";
import { DtError } from "../../common/errors.ts";
import { isS3Url } from "../../common/s3-location.ts";
import type { ArtifactStore } from "./artifact-store.ts";
import { FsArtifactStore } from "./fs-artifact-store.ts";

export interface ArtifactStoreSpec {
  /** `s3://bucket/prefix`, or undefined for the directory `dir`. */
  store: string | undefined;
  /** The flag `store` came from, for errors. */
  flag: string;
  dir: string;
  /** An S3-compatible endpoint (already resolved from --s3-endpoint and the environment). */
  s3Endpoint?: string;
  clock: Clock;
}

/** The master's artifact store: a directory, or an S3 bucket (the AWS SDK is loaded only then). */
export async function openArtifactStore(spec: ArtifactStoreSpec): Promise<ArtifactStore> {
  if (spec.store === undefined) return new FsArtifactStore(spec.dir);
  if (!isS3Url(spec.store)) throw new DtError("invalid_input", `${spec.flag} ${JSON.stringify(spec.store)}: expected s3://BUCKET/PREFIX (without it, artifacts are kept in --data-dir)`);
  const [{ openS3Store }, { S3ArtifactStore }] = await Promise.all([import("../../common/s3.ts"), import("./s3-artifact-store.ts")]);
  return openS3Store(spec.store, spec.flag, { endpoint: spec.s3Endpoint }, (s3, location) => S3ArtifactStore.open(s3, location, spec.clock));
}
