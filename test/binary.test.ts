import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ListObjectsV2Command } from "@aws-sdk/client-s3";
import { S3RVER_ENV, TEST_S3_ENDPOINT, useTestBucket, warnIfNoS3 } from "./helpers/s3.ts";

const root = new URL("..", import.meta.url).pathname;
const binary = join(root, "dist", "dt");
const built = existsSync(binary);
if (!built) console.warn(`SKIP binary tests: ${binary} does not exist; run \`bun run build\` first (.ci/run does)`);
// Said only when the binary's other tests run: without dist/dt the line above already says why the S3 ones skip.
else warnIfNoS3("test/binary.test.ts (the compiled dt binary with an S3 store)");

type IsolateServerProcess = Bun.Subprocess<"ignore", "ignore", "pipe">;

/** Starts the binary's isolate server on a free port; resolves with it, its URL and what it logged until it listened. */
async function startIsolateServer(args: string[], options: { cwd: string; env?: Record<string, string> }): Promise<{ server: IsolateServerProcess; url: string; log: string }> {
  const server = Bun.spawn([binary, "isolate-server", "--port", "0", "--host", "127.0.0.1", ...args], { stdin: "ignore", stdout: "ignore", stderr: "pipe", ...options });
  const reader = server.stderr.getReader();
  let log = "";
  const deadline = Date.now() + 10_000;
  while (!/http:\/\/127\.0\.0\.1:\d+/.test(log) && Date.now() < deadline) {
    const { value, done } = await reader.read();
    if (done) break;
    log += new TextDecoder().decode(value);
  }
  reader.releaseLock();
  const url = /http:\/\/127\.0\.0\.1:\d+/.exec(log)?.[0];
  if (!url) {
    server.kill("SIGKILL");
    throw new Error(`isolate server did not start: ${log}`);
  }
  return { server, url, log };
}

/** The compiled executable, as operators run it: its own workers, no source tree, no bun. */
describe.skipIf(!built)("the compiled dt binary", () => {
  let work: string;
  let server: IsolateServerProcess | undefined;
  let url: string;

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), "dt-binary-"));
    ({ server, url } = await startIsolateServer(["--data-dir", join(work, "cas")], { cwd: work }));
  });
  afterAll(async () => {
    server?.kill("SIGTERM");
    await server?.exited;
    rmSync(work, { recursive: true, force: true });
  });

  test("--version prints the version and the commit it was built from", () => {
    const out = Bun.spawnSync([binary, "--version"]).stdout.toString();
    expect(out).toMatch(/^dt \d+\.\d+\.\d+ [0-9a-f]{7,}(-dirty)?\n$/);
  });

  test("archives with its bundled hash workers and runs the tree with run-isolated", () => {
    // Run from outside the repository: the binary must not need the source tree.
    const archive = Bun.spawnSync([binary, "archive", "--isolate-server", url, "-i", join(root, "examples/hello/hello.isolate"), "--hash-cache", "none"], { cwd: work });
    expect(archive.exitCode).toBe(0);
    const digest = archive.stdout.toString().split(/\s+/)[0]!;
    expect(digest).toMatch(/^[0-9a-f]{64}$/);
    const run = Bun.spawnSync([binary, "run-isolated", "--isolate-server", url, "--hash", digest, "--cache", join(work, "cache")], { cwd: work });
    expect(run.stdout.toString()).toContain("PASS");
    expect(run.exitCode).toBe(0);
  });

  test("an unknown command exits 2 with the list of commands", () => {
    const result = Bun.spawnSync([binary, "no-such-command"]);
    expect(result.exitCode).toBe(2);
    expect(result.stderr.toString()).toContain("run-isolated");
  });

  test("a missing required flag exits 2", () => {
    const result = Bun.spawnSync([binary, "run-isolated"], { env: { HOME: work, PATH: process.env.PATH ?? "" } });
    expect(result.exitCode).toBe(2);
  });
});

/** The binary's CAS on S3: the AWS SDK is bundled and loaded on demand, and s3rver plays S3 (DT_TEST_S3_ENDPOINT). */
describe.skipIf(!built || !TEST_S3_ENDPOINT)("the compiled dt binary with an S3 store", () => {
  const bucket = useTestBucket(TEST_S3_ENDPOINT!, "dt-binary");
  let work: string;
  let server: IsolateServerProcess | undefined;

  beforeAll(() => {
    work = mkdtempSync(join(tmpdir(), "dt-binary-s3-"));
  });
  afterAll(async () => {
    server?.kill("SIGTERM");
    await server?.exited;
    rmSync(work, { recursive: true, force: true });
  });

  test("isolate-server --store s3://… serves archive and run-isolated from the bucket", async () => {
    const env = { HOME: work, PATH: process.env.PATH ?? "", ...S3RVER_ENV };
    const started = await startIsolateServer(["--store", `s3://${bucket.name}/cas`, "--s3-endpoint", TEST_S3_ENDPOINT!], { cwd: work, env });
    server = started.server;
    const url = started.url;
    expect(started.log).toContain(`s3://${bucket.name}/cas`);
    const archive = Bun.spawnSync([binary, "archive", "--isolate-server", url, "-i", join(root, "examples/hello/hello.isolate"), "--hash-cache", "none"], { cwd: work, env });
    expect(archive.exitCode).toBe(0);
    const digest = archive.stdout.toString().split(/\s+/)[0]!;
    const listed = await bucket.admin.send(new ListObjectsV2Command({ Bucket: bucket.name, Prefix: "cas/blobs/" }));
    expect(listed.Contents?.map((o) => o.Key)).toContain(`cas/blobs/${digest}`);
    const run = Bun.spawnSync([binary, "run-isolated", "--isolate-server", url, "--hash", digest, "--cache", join(work, "cache")], { cwd: work, env });
    expect(run.stdout.toString()).toContain("PASS");
    expect(run.exitCode).toBe(0);
  });

  test("a malformed --store, or --max-size with S3, exits 2 naming the flag", () => {
    const bad = Bun.spawnSync([binary, "isolate-server", "--port", "0", "--store", "s3:/nope"], { cwd: work });
    expect(bad.exitCode).toBe(2);
    expect(bad.stderr.toString()).toContain('--store "s3:/nope": expected s3://BUCKET/PREFIX');
    const trim = Bun.spawnSync([binary, "isolate-server", "--port", "0", "--store", `s3://${bucket.name}/cas`, "--max-size", "1GB"], { cwd: work });
    expect(trim.exitCode).toBe(2);
    expect(trim.stderr.toString()).toContain("--max-size does not apply to an s3:// --store");
  });
});
