/**
 * `dt fetch -o` reads outputs from the server an outputs_ref names, and that
 * ref comes from a slave's report: the server may be anybody's. One that
 * answers a manifest request with endless bytes must be refused while they
 * stream, not after they filled the reader's memory.
 */
import { afterEach, expect, test } from "bun:test";
import { join } from "node:path";
import { CasClient } from "../../../src/isolate/cas/client.ts";
import { downloadOutputs } from "../../../src/isolate/outputs/download-outputs.ts";
import { TempDirs } from "../../helpers/temp.ts";

const temps = new TempDirs();
const servers: { stop(force?: boolean): void }[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) s.stop(true);
  await temps.cleanup();
});

/** A server answering every GET with `chunk` forever (chunked, no length), counting what it sent. */
function endlessServer(declaredLength?: number) {
  let sent = 0;
  const chunk = new Uint8Array(64 * 1024).fill(0x7b);
  const server = Bun.serve({
    port: 0,
    hostname: "127.0.0.1",
    fetch() {
      const body = new ReadableStream<Uint8Array>({
        pull(controller) {
          sent += chunk.byteLength;
          controller.enqueue(chunk);
        },
      });
      return new Response(body, { headers: declaredLength === undefined ? {} : { "Content-Length": String(declaredLength) } });
    },
  });
  servers.push(server);
  return { url: `http://127.0.0.1:${server.port}`, sent: () => sent };
}

const HASH = "a".repeat(64);

test("a manifest streamed without end is refused once past the bound, with the server named", async () => {
  const rogue = endlessServer();
  const cas = new CasClient(rogue.url, { attempts: 1 });
  await expect(cas.getBytes(HASH, 1024 * 1024)).rejects.toThrow(`GET ${rogue.url}/api/cas/v1/blobs/${HASH}: the blob is larger than 1048576 bytes, more than any manifest may be; refusing it`);
  // The reader stopped near the bound (the server may have queued a few chunks ahead), not at the end of its memory.
  expect(rogue.sent()).toBeLessThan(64 * 1024 * 1024);
});

test("dt fetch -o's download refuses a manifest whose declared length is over the bound before reading it", async () => {
  const rogue = endlessServer(2 ** 40);
  const dest = join(await temps.make("dt-rogue-"), "out");
  await expect(downloadOutputs(new CasClient(rogue.url, { attempts: 1 }), HASH, dest)).rejects.toThrow(/larger than \d+ bytes/);
});
