import { expect, test } from "bun:test";
import { openS3Client } from "../../src/common/s3.ts";
import { isS3Url, keyOf, parseS3Url, s3EndpointOf } from "../../src/common/s3-location.ts";

test("s3:// URLs give the bucket and the prefix without slashes at its ends", () => {
  expect(parseS3Url("s3://dt-cas/prod", "--store")).toEqual({ bucket: "dt-cas", prefix: "prod" });
  expect(parseS3Url("s3://dt-cas/a/b/", "--store")).toEqual({ bucket: "dt-cas", prefix: "a/b" });
  expect(parseS3Url("s3://dt-cas", "--store")).toEqual({ bucket: "dt-cas", prefix: "" });
  expect(keyOf({ bucket: "b", prefix: "a/b" }, "blobs/x")).toBe("a/b/blobs/x");
  expect(keyOf({ bucket: "b", prefix: "" }, "blobs/x")).toBe("blobs/x");
  expect(isS3Url("s3://b")).toBe(true);
  expect(isS3Url("/srv/cas")).toBe(false);
});

test("a malformed location names the flag, the value and the expected form", () => {
  for (const bad of ["s3:/dt-cas", "dt-cas/prod", "s3://Upper/x", "s3://ab/x", "s3://dt-cas/a//b", "s3:///prefix"]) {
    let err: unknown;
    try {
      parseS3Url(bad, "--artifacts");
    } catch (e) {
      err = e;
    }
    expect((err as { code?: string }).code).toBe("invalid_input");
    expect((err as Error).message).toContain(`--artifacts ${JSON.stringify(bad)}: expected s3://BUCKET/PREFIX`);
  }
});

test("the endpoint comes from the flag, then AWS_ENDPOINT_URL_S3, then AWS_ENDPOINT_URL", () => {
  const env = { AWS_ENDPOINT_URL: "http://general:1", AWS_ENDPOINT_URL_S3: "http://s3:2" };
  expect(s3EndpointOf("http://flag:3", env)).toBe("http://flag:3");
  expect(s3EndpointOf(undefined, env)).toBe("http://s3:2");
  expect(s3EndpointOf(undefined, { AWS_ENDPOINT_URL: "http://general:1" })).toBe("http://general:1");
  expect(s3EndpointOf(undefined, {})).toBeUndefined();
});

test("a custom endpoint is addressed path-style; checksums only where S3 requires them; a region even when none is configured", async () => {
  const s3 = await openS3Client({ endpoint: "http://127.0.0.1:9", credentials: { accessKeyId: "a", secretAccessKey: "b" } });
  expect(s3.config.forcePathStyle).toBe(true);
  expect(await s3.config.requestChecksumCalculation()).toBe("WHEN_REQUIRED");
  expect(await s3.config.responseChecksumValidation()).toBe("WHEN_REQUIRED");
  expect(await s3.config.region()).toBe(process.env.AWS_REGION || process.env.AWS_DEFAULT_REGION || "us-east-1");
  s3.destroy();
  const err = await openS3Client({ endpoint: "minio:9000" }).catch((e) => e);
  expect(err.code).toBe("invalid_input");
  expect(err.message).toContain('"minio:9000" is not an http(s) URL');
});
