/**
 * The beanstalkd answer reader at every packet split, and the YAML of the
 * stats commands, without a server.
 */
import { describe, expect, test } from "bun:test";
import { ResponseReader, type Response, parseYamlDict, parseYamlList } from "../../src/master/queue/beanstalk-protocol.ts";

const enc = (s: string) => new TextEncoder().encode(s);

/** A body that looks like answers and ends in CRLF: read by count, it must come back whole. */
const TRICKY = new Uint8Array([...enc("RESERVED 1 2\r\nOK 3\r\n"), 0, 255, 13, 10, 13, 10]);
const STREAM = new Uint8Array([
  ...enc("INSERTED 1\r\nRESERVED 7 " + TRICKY.length + "\r\n"),
  ...TRICKY,
  ...enc("\r\nFOUND 8 0\r\n\r\nTIMED_OUT\r\nOK 14\r\n---\n- default\n\r\nNOT_FOUND\r\n"),
]);
const EXPECTED: Response[] = [
  { line: "INSERTED 1" },
  { line: `RESERVED 7 ${TRICKY.length}`, body: TRICKY },
  { line: "FOUND 8 0", body: new Uint8Array(0) },
  { line: "TIMED_OUT" },
  { line: "OK 14", body: enc("---\n- default\n") },
  { line: "NOT_FOUND" },
];

describe("ResponseReader", () => {
  test("one chunk holding several answers", () => {
    expect(new ResponseReader().feed(STREAM)).toEqual(EXPECTED);
  });

  test("the same stream split in two at every byte", () => {
    for (let cut = 0; cut <= STREAM.length; cut++) {
      const reader = new ResponseReader();
      const answers = [...reader.feed(STREAM.slice(0, cut)), ...reader.feed(STREAM.slice(cut))];
      expect(answers, `split at ${cut}`).toEqual(EXPECTED);
    }
  });

  test("one byte at a time, the chunk buffer reused between calls", () => {
    const reader = new ResponseReader();
    const shared = new Uint8Array(1);
    const answers: Response[] = [];
    for (const byte of STREAM) {
      shared[0] = byte;
      answers.push(...reader.feed(shared));
    }
    expect(answers).toEqual(EXPECTED);
  });

  test("a body not followed by CRLF, a bare LF and an endless line are protocol errors", () => {
    expect(() => new ResponseReader().feed(enc("RESERVED 1 3\r\nabcXY"))).toThrow(/not followed by CRLF/);
    expect(() => new ResponseReader().feed(enc("INSERTED 1\n"))).toThrow(/without CR/);
    expect(() => new ResponseReader().feed(new Uint8Array(2000).fill(65))).toThrow(/longer than/);
  });
});

describe("beanstalkd YAML", () => {
  test("dictionaries: numbers as numbers, quoted and text keys as strings", () => {
    const body = enc('---\nid: 1\nname: 42\ntube: 7\nstate: ready\nversion: "1.12"\nrusage-utime: 0.001791\ndraining: false\nos: #1 SMP\n');
    expect(parseYamlDict(body, new Set(["name", "tube", "version", "os"]))).toEqual({
      id: 1,
      name: "42",
      tube: "7",
      state: "ready",
      version: "1.12",
      "rusage-utime": 0.001791,
      draining: "false",
      os: "#1 SMP",
    });
  });

  test("lists", () => {
    expect(parseYamlList(enc("---\n- default\n- dt.d.W1siYSIsImIiXV0\n- ($x;y)\n"))).toEqual(["default", "dt.d.W1siYSIsImIiXV0", "($x;y)"]);
    expect(parseYamlList(enc("---\n"))).toEqual([]);
  });
});
