/**
 * S3 for tests. Suites that only need a server read DT_TEST_S3_ENDPOINT
 * (.ci/run starts s3rver and sets it) and skip, saying so, without it;
 * tests that stop S3 mid-way start a private s3rver with PrivateS3. Every
 * test file makes its own bucket (s3rver accepts any name; credentials are
 * s3rver's fixed pair).
 */
import { afterAll, beforeAll } from "bun:test";
import { CreateBucketCommand, DeleteBucketCommand, DeleteObjectCommand, ListObjectsV2Command, type S3Client } from "@aws-sdk/client-s3";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { openS3Client } from "../../src/common/s3.ts";

/** s3rver's only account. */
export const S3RVER_CREDENTIALS = { accessKeyId: "S3RVER", secretAccessKey: "S3RVER" };
/** The same, for a dt child process, which reads credentials through the SDK's chain. */
export const S3RVER_ENV = { AWS_ACCESS_KEY_ID: S3RVER_CREDENTIALS.accessKeyId, AWS_SECRET_ACCESS_KEY: S3RVER_CREDENTIALS.secretAccessKey };

export const TEST_S3_ENDPOINT = process.env.DT_TEST_S3_ENDPOINT || undefined;

/** Logs why a suite is skipped when DT_TEST_S3_ENDPOINT is unset (the caller then uses describe.skipIf). */
export function warnIfNoS3(what: string): void {
  if (!TEST_S3_ENDPOINT) console.warn(`SKIP ${what}: DT_TEST_S3_ENDPOINT is not set; e.g. bash scripts/services/s3rver.sh and DT_TEST_S3_ENDPOINT=http://127.0.0.1:4568`);
}

export function testS3Client(endpoint: string): Promise<S3Client> {
  return openS3Client({ endpoint, credentials: S3RVER_CREDENTIALS });
}

/** A new bucket with a unique name starting with `prefix` (lowercase, digits, '-'). */
export async function createBucket(s3: S3Client, prefix: string): Promise<string> {
  const name = `${prefix}-${crypto.randomUUID().slice(0, 12)}`;
  await s3.send(new CreateBucketCommand({ Bucket: name }));
  return name;
}

/** Deletes every object of the bucket, then the bucket; never throws, so cleanup cannot hide a test's failure. */
export async function deleteBucket(s3: S3Client, bucket: string): Promise<void> {
  try {
    let token: string | undefined;
    do {
      const page = await s3.send(new ListObjectsV2Command({ Bucket: bucket, ContinuationToken: token }));
      for (const o of page.Contents ?? []) await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: o.Key! }));
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
    await s3.send(new DeleteBucketCommand({ Bucket: bucket }));
  } catch {
    // the server is gone or the bucket already was
  }
}

/**
 * A bucket for one test file (or describe block): made before its tests,
 * emptied and removed after them. `admin` is a client for checking what the
 * code under test stored.
 */
export function useTestBucket(endpoint: string, prefix: string): { readonly admin: S3Client; readonly name: string } {
  let admin: S3Client | undefined;
  let name = "";
  beforeAll(async () => {
    admin = await testS3Client(endpoint);
    name = await createBucket(admin, prefix);
  });
  afterAll(async () => {
    if (!admin) return;
    await deleteBucket(admin, name);
    admin.destroy();
  });
  return {
    get admin() {
      return admin!;
    },
    get name() {
      return name;
    },
  };
}

/** s3rver starts in well under a second; a loaded 2-core machine may take a few. */
const START_DEADLINE_MS = 15_000;

/** A private s3rver on 127.0.0.1 with its own data directory, which can be stopped and started again on the same port. */
export class PrivateS3 {
  readonly dir = mkdtempSync(join(tmpdir(), "dt-s3rver-"));
  private port = 0;
  private proc: Subprocess<"ignore", "pipe", "pipe"> | undefined;

  static async start(): Promise<PrivateS3> {
    const s3 = new PrivateS3();
    try {
      await s3.restart();
      return s3;
    } catch (err) {
      await s3.destroy();
      throw err;
    }
  }

  get endpoint(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** Starts the server (on the port it had, after the first start); resolves once it listens. */
  async restart(): Promise<void> {
    const proc = Bun.spawn(["bun", join(import.meta.dir, "s3rver-main.ts"), join(this.dir, "data"), String(this.port)], { stdin: "ignore", stdout: "pipe", stderr: "pipe" });
    this.proc = proc;
    const reader = proc.stdout.getReader();
    let text = "";
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`s3rver did not start within ${START_DEADLINE_MS} ms: ${text}`)), START_DEADLINE_MS)));
    try {
      while (!/listening \d+/.test(text)) {
        const { value, done } = await Promise.race([reader.read(), late]);
        if (done) throw new Error(`s3rver exited while starting: ${text}${await new Response(proc.stderr).text()}`);
        text += new TextDecoder().decode(value);
      }
    } finally {
      clearTimeout(timer);
      reader.releaseLock();
    }
    this.port = Number(/listening (\d+)/.exec(text)![1]);
  }

  /** SIGSTOP / SIGCONT: an S3 that accepts connections and never answers, then answers again. */
  pause(): void {
    this.proc?.kill("SIGSTOP");
  }

  resume(): void {
    this.proc?.kill("SIGCONT");
  }

  /** SIGKILL: S3 vanishing, not shutting down politely; resolves once the process is gone. */
  async stop(): Promise<void> {
    this.proc?.kill("SIGKILL");
    await this.proc?.exited;
  }

  async destroy(): Promise<void> {
    await this.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
