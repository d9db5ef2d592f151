import { expect, test } from "bun:test";
import { Writable } from "node:stream";
import { createLogger } from "../../src/common/log.ts";

function capture() {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk, _enc, done) {
      lines.push(...String(chunk).split("\n").filter(Boolean));
      done();
    },
  });
  return { lines, stream };
}

test("json format writes one object per line with fields", () => {
  const { lines, stream } = capture();
  const log = createLogger({ format: "json", stream });
  log.info("leased task", { job_id: "j1", task_id: "abc.0" });
  log.error("failed", new Error("boom"));
  expect(lines.length).toBe(2);
  expect(JSON.parse(lines[0]!)).toMatchObject({ level: "info", msg: "leased task", job_id: "j1", task_id: "abc.0" });
  expect(JSON.parse(lines[1]!)).toMatchObject({ level: "error", msg: "failed", error: "boom" });
});

test("text format prefixes the level and leaves fields out", () => {
  const { lines, stream } = capture();
  const log = createLogger({ stream });
  log.info("started", { port: 1 });
  log.warn("careful");
  expect(lines).toEqual(["dt: started", "dt warn: careful"]);
});

test("the level filters lines", () => {
  const { lines, stream } = capture();
  const log = createLogger({ level: "warn", stream });
  log.info("hidden");
  log.debug("hidden too");
  log.warn("shown");
  expect(lines).toEqual(["dt warn: shown"]);
});

test("unknown levels and formats are refused by name", () => {
  expect(() => createLogger({ level: "loud" })).toThrow('--log-level: unknown level "loud"');
  expect(() => createLogger({ format: "xml" })).toThrow('--log-format: unknown format "xml"');
});
