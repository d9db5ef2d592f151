/**
 * dt local's copies of the failed attempts' logs: bounded per file and per
 * run (a task's log has no size limit), named so a description cannot lead
 * out of the folder, and a failed copy leaves no half file.
 */
import { afterEach, expect, test } from "bun:test";
import { existsSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { MasterClient } from "../../src/client/api.ts";
import type { Logger } from "../../src/common/log.ts";
import { createLogger } from "../../src/common/log.ts";
import { KeptLogs } from "../../src/local/kept-logs.ts";
import { attemptOf, taskOf } from "../client/fake-master.ts";
import { TempDirs } from "../helpers/temp.ts";

const temps = new TempDirs();
const servers: { stop(force: boolean): unknown }[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) s.stop(true);
  await temps.cleanup();
});

/** A master's artifact route: `endless` never ends (a log still growing by the gigabyte), `broken` is a 500. */
function serveArtifacts(bodies: Record<string, string>) {
  const server = Bun.serve({
    port: 0,
    hostname: "127.0.0.1",
    fetch(req) {
      const key = new URL(req.url).pathname.replace("/api/v1/artifacts/", "");
      if (key === "endless") {
        const line = new TextEncoder().encode("x".repeat(99) + "\n");
        return new Response(new ReadableStream({ pull: (c) => c.enqueue(line) }));
      }
      if (key === "broken") return new Response("disk on fire", { status: 500 });
      const body = bodies[key];
      return body === undefined ? new Response("no", { status: 404 }) : new Response(body);
    },
  });
  servers.push(server);
  return `http://127.0.0.1:${server.port}`;
}

function recordingLog(): { log: Logger; warnings: string[] } {
  const warnings: string[] = [];
  const log = createLogger({ level: "silent" });
  return { log: { ...log, warn: (m: string) => void warnings.push(m) } as Logger, warnings };
}

test("a log past the file limit is cut with a line saying so (an endless one too); an archive past it is not copied; the link says why", async () => {
  const dir = await temps.make("dt-kept-");
  const url = serveArtifacts({ "big.zip": "z".repeat(5_000) });
  const { log } = recordingLog();
  const kept = new KeptLogs(new MasterClient(url), join(dir, "kept"), log, dir, { fileBytes: 1_000, totalBytes: 1_000_000 });
  const task = taskOf("h.0", "loops-forever", "failed", [attemptOf(0, "FAILED", { stdout_link: "/api/v1/artifacts/endless", artifact_archive_link: "/api/v1/artifacts/big.zip" })]);
  const links = Object.fromEntries(await kept.attempt(task, task.attempts[0]!));
  expect(links.stdout).toBe("kept/h_0.0.loops_forever.stdout");
  const text = readFileSync(join(dir, links.stdout!), "utf8");
  expect(text.length).toBeLessThan(1_100);
  expect(text.startsWith("x".repeat(99) + "\n")).toBe(true);
  expect(text).toEndWith("\n[dt local: cut at 1000 bytes; pass --data-dir DIR to keep the whole log]\n");
  expect(links.artifacts).toBe("(not kept: the archive is over 1000 bytes; pass --data-dir DIR to keep it)");
  expect(readdirSync(join(dir, "kept"))).toEqual(["h_0.0.loops_forever.stdout"]);
}, 15_000);

test("past the run's total nothing more is copied, said once; a description cannot name a path; a failed copy leaves no file", async () => {
  const dir = await temps.make("dt-kept-");
  const url = serveArtifacts({ a: "a".repeat(600), b: "b".repeat(600), c: "c".repeat(600) });
  const { log, warnings } = recordingLog();
  const kept = new KeptLogs(new MasterClient(url, { retry: { attempts: 1, delayMs: 1 } }), join(dir, "kept"), log, dir, { fileBytes: 1_000, totalBytes: 1_000 });
  const tasks = [
    taskOf("h.0", "../../../escape", "failed", [attemptOf(0, "FAILED", { stdout_link: "/api/v1/artifacts/a", stderr_link: "/api/v1/artifacts/broken" })]),
    taskOf("h.1", "/etc/passwd", "failed", [attemptOf(0, "FAILED", { stdout_link: "/api/v1/artifacts/b" })]),
    taskOf("h.2", "third", "failed", [attemptOf(0, "FAILED", { stdout_link: "/api/v1/artifacts/c" })]),
  ];
  await kept.prepare(tasks);
  expect(readdirSync(join(dir, "kept")).sort()).toEqual(["h_0.0._________escape.stdout", "h_1.0._etc_passwd.stdout"]);
  expect(existsSync(join(dir, "escape.stdout"))).toBe(false);
  // 600 + 400 (cut) = the total; the third is not copied.
  expect(readFileSync(join(dir, "kept", "h_1.0._etc_passwd.stdout"), "utf8")).toStartWith("b".repeat(400) + "\n[dt local: cut at 400 bytes");
  expect(kept.link("/api/v1/artifacts/c")).toBe("(not kept: 1000 bytes of logs were copied already; pass --data-dir DIR to keep them all)");
  expect(kept.link("/api/v1/artifacts/broken")).toStartWith("(not kept: ");
  expect(warnings.filter((w) => w.includes("no more are"))).toHaveLength(1);
  expect(warnings.some((w) => w.startsWith("could not keep stderr of ../../../escape attempt 0"))).toBe(true);
}, 15_000);

test("a folder that cannot be made is warned about once, not once per file, and the links say why", async () => {
  const dir = await temps.make("dt-kept-");
  writeFileSync(join(dir, "kept"), "a file where the folder would go");
  const url = serveArtifacts({ a: "a", b: "b" });
  const { log, warnings } = recordingLog();
  const kept = new KeptLogs(new MasterClient(url), join(dir, "kept", "job"), log, dir);
  const tasks = ["a", "b"].map((k, i) => taskOf(`h.${i}`, k, "failed", [attemptOf(0, "FAILED", { stdout_link: `/api/v1/artifacts/${k}`, stderr_link: `/api/v1/artifacts/${k}` })]));
  await kept.prepare(tasks);
  expect(warnings).toHaveLength(1);
  expect(warnings[0]).toStartWith("cannot keep the failed attempts' logs: ");
  expect(kept.link("/api/v1/artifacts/b")).toStartWith(`(not kept: ${join(dir, "kept", "job")} cannot be made: `);
  expect(kept.size).toBe(0);
});

test("prepare keeps the logs of the attempts the listed cases point at, in tasks that passed too, and only those", async () => {
  const dir = await temps.make("dt-kept-");
  const url = serveArtifacts({ "a.stdout": "rerun passed\n", "b.stdout": "all passed\n" });
  const kept = new KeptLogs(new MasterClient(url), join(dir, "kept"), recordingLog().log, dir);
  // A case that passed on its runner's own rerun: its task passed, so only the case makes its log worth keeping.
  const rerun = taskOf("h.0", "rerun", "succeeded", [attemptOf(0, "SUCCEEDED", { stdout_link: "/api/v1/artifacts/a.stdout" })]);
  const quiet = taskOf("h.1", "quiet", "succeeded", [attemptOf(0, "SUCCEEDED", { stdout_link: "/api/v1/artifacts/b.stdout" })]);
  await kept.prepare([rerun, quiet], [{ task_id: "h.0", attempt: 0 }, { task_id: "h.9", attempt: 0 }, { task_id: "h.1", attempt: 7 }]);
  expect(kept.link("/api/v1/artifacts/a.stdout")).toBe("kept/h_0.0.rerun.stdout");
  expect(readFileSync(join(dir, "kept/h_0.0.rerun.stdout"), "utf8")).toBe("rerun passed\n");
  expect(kept.link("/api/v1/artifacts/b.stdout")).toStartWith("(not kept:");
  expect(kept.size).toBe(1);
});
