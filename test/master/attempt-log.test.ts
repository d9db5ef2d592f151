/**
 * readAttemptLog and scanAttemptLog over a store that answers streams, as
 * S3 does: a slice reads the object only up to the slice's end, a scan
 * reads the prefix once, and both give the bytes a file-backed store gives.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { ManualClock } from "../../src/common/clock.ts";
import { readAttemptLog, scanAttemptLog, type LogSources } from "../../src/master/artifacts/attempt-log.ts";
import type { ArtifactStore } from "../../src/master/artifacts/artifact-store.ts";
import { FsArtifactStore } from "../../src/master/artifacts/fs-artifact-store.ts";
import { LiveLogs } from "../../src/master/artifacts/live-logs.ts";
import type { Attempt } from "../../src/master/model.ts";
import { S3ArtifactStore } from "../../src/master/artifacts/s3-artifact-store.ts";
import { TEST_S3_ENDPOINT, testS3Client, useTestBucket, warnIfNoS3 } from "../helpers/s3.ts";
import { TempDirs } from "../helpers/temp.ts";

warnIfNoS3("test/master/attempt-log.test.ts (logs in S3)");

const KEY = "j.t.0.stdout";
const SIZE = 10 * 2 ** 20;
/** Bytes that say where they are: byte i is i mod 251. */
const LOG = Uint8Array.from({ length: SIZE }, (_, i) => i % 251);

const temps = new TempDirs();
let files: FsArtifactStore;
/** How many bytes the streaming store has handed out since the last reset. */
let pulled = 0;

/** The real store behind a stream, counting what the reader pulls. */
function streaming(store: FsArtifactStore): ArtifactStore {
  return Object.assign(Object.create(store) as ArtifactStore, {
    async get(key: string) {
      const object = await store.get(key);
      if (!object) return null;
      const reader = (object.body as Blob).stream().getReader();
      const body = new ReadableStream<Uint8Array>({
        async pull(controller) {
          const { done, value } = await reader.read();
          if (done) return controller.close();
          pulled += value.byteLength;
          controller.enqueue(value);
        },
        cancel: () => reader.cancel(),
      }, { highWaterMark: 0 });
      return { size: object.size, body };
    },
  });
}

function sources(artifacts: ArtifactStore, dir: string): LogSources {
  const attempt = { state: "SUCCEEDED", stdoutKey: KEY, stderrKey: null } as unknown as Attempt;
  return { repo: { getAttempt: async () => attempt }, artifacts, liveLogs: new LiveLogs(`${dir}/live`) };
}

let dir: string;
beforeAll(async () => {
  dir = await temps.make("dt-attempt-log-");
  files = new FsArtifactStore(`${dir}/artifacts`);
  await files.put(KEY, LOG);
});
afterAll(() => temps.cleanup());

test("a slice of a streamed log is the file's slice, read no further than its end", async () => {
  const fromFile = sources(files, dir);
  const fromStream = sources(streaming(files), dir);
  for (const offset of [0, 1000, SIZE - 10, SIZE, SIZE + 5]) {
    pulled = 0;
    const a = await readAttemptLog(fromFile, "j", "t", 0, "stdout", offset);
    const b = await readAttemptLog(fromStream, "j", "t", 0, "stdout", offset);
    expect({ offset, size: b.size, complete: b.complete, same: Buffer.from(a.bytes).equals(Buffer.from(b.bytes)) }).toEqual({ offset, size: SIZE, complete: true, same: true });
    // The stream is read to the slice's end (4 MiB past the offset), plus at most one chunk; a read past the end reads nothing.
    expect(pulled).toBeLessThanOrEqual(offset >= SIZE ? 0 : Math.min(SIZE, offset + 4 * 2 ** 20) + 2 ** 20);
  }
});

test("a scan hands over [0, end) once, in order, and stops when asked", async () => {
  for (const store of [files, streaming(files)]) {
    pulled = 0;
    const parts: Buffer[] = [];
    await scanAttemptLog(sources(store, dir), "j", "t", 0, "stdout", 6_000_000, (chunk, at) => {
      expect(at).toBe(parts.reduce((n, p) => n + p.byteLength, 0));
      parts.push(Buffer.from(chunk));
    });
    expect(Buffer.concat(parts).equals(Buffer.from(LOG.subarray(0, 6_000_000)))).toBe(true);
    expect(pulled).toBeLessThanOrEqual(6_000_000 + 2 ** 20);
    let calls = 0;
    await scanAttemptLog(sources(store, dir), "j", "t", 0, "stdout", SIZE, () => ++calls === 1);
    expect(calls).toBe(1);
  }
});

describe.skipIf(!TEST_S3_ENDPOINT)("over S3", () => {
  const bucket = useTestBucket(TEST_S3_ENDPOINT ?? "", "dt-attempt-log");

  test("slices and a scan of a log in S3 are the file's bytes", async () => {
    const store = await S3ArtifactStore.open(await testS3Client(TEST_S3_ENDPOINT!), { bucket: bucket.name, prefix: "logs" }, new ManualClock(Date.now()));
    await store.put(KEY, LOG);
    const from = sources(store, dir);
    for (const offset of [0, 4 * 2 ** 20 + 3, SIZE - 1, SIZE]) {
      const read = await readAttemptLog(from, "j", "t", 0, "stdout", offset);
      expect({ offset, size: read.size, same: Buffer.from(read.bytes).equals(Buffer.from(LOG.subarray(offset, offset + 4 * 2 ** 20))) }).toEqual({ offset, size: SIZE, same: true });
    }
    const parts: Buffer[] = [];
    await scanAttemptLog(from, "j", "t", 0, "stdout", 5_000_001, (chunk) => void parts.push(Buffer.from(chunk)));
    expect(Buffer.concat(parts).equals(Buffer.from(LOG.subarray(0, 5_000_001)))).toBe(true);
  });
});
