/**
 * `s3://bucket/prefix` locations and the S3 endpoint setting, apart from
 * s3.ts so that commands can check their flags without loading the AWS SDK.
 */
import { DtError } from "./errors.ts";

export interface S3Location {
  bucket: string;
  /** Key prefix without leading or trailing `/`; may be empty. */
  prefix: string;
}

/** S3's bucket naming rules (3-63 lowercase letters, digits, dots and hyphens), so a typo fails here and not at the first upload. */
const BUCKET_RE = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;

/** Parses `s3://bucket/prefix` (the prefix is optional); `what` names the flag in the error. */
export function parseS3Url(value: string, what: string): S3Location {
  const match = /^s3:\/\/([^/]+)(?:\/(.*))?$/.exec(value);
  const bucket = match?.[1] ?? "";
  const prefix = (match?.[2] ?? "").replace(/^\/+|\/+$/g, "");
  if (!match || !BUCKET_RE.test(bucket) || prefix.split("/").some((part, i, all) => part === "" && all.length > 1)) {
    throw new DtError("invalid_input", `${what} ${JSON.stringify(value)}: expected s3://BUCKET/PREFIX, e.g. s3://dt-artifacts/prod (bucket: 3-63 lowercase letters, digits, '.' and '-'; no empty path segments)`);
  }
  return { bucket, prefix };
}

/** The object key of `name` under the location's prefix. */
export function keyOf(location: S3Location, name: string): string {
  return location.prefix ? `${location.prefix}/${name}` : name;
}

/** `--s3-endpoint` wins, then `AWS_ENDPOINT_URL_S3` and `AWS_ENDPOINT_URL` (the SDK's own variables); none means AWS. */
export function s3EndpointOf(flag: string | undefined, env: Record<string, string | undefined>): string | undefined {
  // Checked even where no s3:// store is named: a typo is reported when it is made.
  if (flag && !/^https?:\/\/[^/\s]+/.test(flag)) throw new DtError("invalid_input", `--s3-endpoint ${JSON.stringify(flag)}: write the server's http(s) URL, e.g. http://minio:9000`);
  return flag || env.AWS_ENDPOINT_URL_S3 || env.AWS_ENDPOINT_URL || undefined;
}

/** True for a value meant as an S3 location (checked by parseS3Url). */
export function isS3Url(value: string | undefined): value is string {
  return value !== undefined && value.startsWith("s3://");
}
