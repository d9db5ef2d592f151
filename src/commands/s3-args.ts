import { DtError } from "../common/errors.ts";
import { isS3Url, s3EndpointOf } from "../common/s3-location.ts";

/** The flag every command with an `s3://` store takes. */
export const s3EndpointArg = {
  "s3-endpoint": {
    type: "string",
    description: "S3-compatible server for s3:// stores, e.g. http://minio:9000 (path-style; default $AWS_ENDPOINT_URL_S3, $AWS_ENDPOINT_URL, else AWS)",
  },
} as const;

/** The S3 options of `dt master`, for startMasterServer. */
export function masterStoreOptions(
  args: { artifacts?: string; "cas-store"?: string; "isolate-server"?: string; "s3-endpoint"?: string },
  env: Record<string, string | undefined>,
): { artifacts?: string; casStore?: string; s3Endpoint?: string } {
  if (args["cas-store"] !== undefined && args["isolate-server"] !== undefined) {
    throw new DtError("invalid_input", "--cas-store and --isolate-server exclude each other: --isolate-server names a CAS this master does not serve");
  }
  // Before anything opens: the stores are opened after the data directory is made.
  for (const flag of ["artifacts", "cas-store"] as const) {
    if (args[flag] !== undefined && !isS3Url(args[flag])) throw new DtError("invalid_input", `--${flag} ${JSON.stringify(args[flag])}: expected s3://BUCKET/PREFIX (without it, the store is kept in --data-dir)`);
  }
  return { artifacts: args.artifacts, casStore: args["cas-store"], s3Endpoint: s3EndpointOf(args["s3-endpoint"], env) };
}
