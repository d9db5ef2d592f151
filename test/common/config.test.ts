import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Config } from "../../src/common/config.ts";
import { parseIni } from "../../src/common/ini.ts";

let home: string;
beforeEach(() => {
  home = mkdtempSync(join(tmpdir(), "dt-config-"));
});
afterEach(() => rmSync(home, { recursive: true, force: true }));

const DIST_TEST_CNF = `
# dist_test's own example config
[dist_test]
master = http://file-master:8081
user = alice
password: from-file
allowed_ip_ranges = 10.0.0.0/8
accounts = {"bob": "pw",
  "carol": "pw2"}

[isolate]
server = http://file-cas:4242
cache_dir = ~/isolate-cache
`;

describe("Config precedence: flag, then env, then file, then default", () => {
  test("each layer overrides the ones below it", () => {
    writeFileSync(join(home, ".dist_test.cnf"), DIST_TEST_CNF);
    const fileOnly = Config.load({ HOME: home });
    expect(fileOnly.resolve("isolateServer")).toEqual({ value: "http://file-cas:4242", source: "file" });
    const withEnv = Config.load({ HOME: home, ISOLATE_SERVER: "http://env-cas:4242" });
    expect(withEnv.resolve("isolateServer")).toEqual({ value: "http://env-cas:4242", source: "env" });
    expect(withEnv.resolve("isolateServer", "http://flag-cas:1")).toEqual({ value: "http://flag-cas:1", source: "flag" });
  });

  test("dist_test's environment variables are honoured", () => {
    const config = Config.load({ HOME: home, DIST_TEST_MASTER: "http://m:8081", DIST_TEST_USER: "u", DIST_TEST_PASSWORD: "p" });
    expect(config.get("master")).toBe("http://m:8081");
    expect(config.get("user")).toBe("u");
    expect(config.get("password")).toBe("p");
  });

  test("defaults apply last and ~ expands to HOME", () => {
    const config = Config.load({ HOME: home });
    expect(config.resolve("jobPath")).toEqual({ value: join(home, ".dist-test-last-job"), source: "default" });
    expect(config.get("master")).toBeUndefined();
  });

  test("file values expand ~ and ConfigParser continuation lines join", () => {
    writeFileSync(join(home, ".dist_test.cnf"), DIST_TEST_CNF);
    const config = Config.load({ HOME: home });
    expect(config.get("cacheDir")).toBe(join(home, "isolate-cache"));
    expect(config.get("password")).toBe("from-file");
    expect(config.fileValue("dist_test", "accounts")).toBe('{"bob": "pw",\n"carol": "pw2"}');
  });

  test("$DIST_TEST_CNF names the file", () => {
    const path = join(home, "other.cnf");
    writeFileSync(path, "[dist_test]\nmaster = http://other:1\n");
    expect(Config.load({ HOME: home, DIST_TEST_CNF: path }).get("master")).toBe("http://other:1");
  });

  test("a $DIST_TEST_CNF that does not exist is an error naming it", () => {
    expect(() => Config.load({ HOME: home, DIST_TEST_CNF: join(home, "absent.cnf") })).toThrow(/absent\.cnf.*does not exist/);
  });

  test("require names every way to set a missing value", () => {
    const config = Config.load({ HOME: home });
    expect(() => config.require("isolateServer", undefined, "--isolate-server")).toThrow(/--isolate-server.*ISOLATE_SERVER.*\[isolate\]/);
  });
});

describe("parseIni", () => {
  test("keys are case-insensitive and comments are skipped", () => {
    const data = parseIni("; comment\n[S]\nKey = v\n# other\n", "t.cnf");
    expect(data.get("S")?.get("key")).toBe("v");
  });

  test("a key before any section names the line", () => {
    expect(() => parseIni("master = x\n", "t.cnf")).toThrow("t.cnf:1");
  });

  test("a line that is neither section nor key names the line", () => {
    expect(() => parseIni("[s]\nkey\n", "t.cnf")).toThrow("t.cnf:2");
  });
});
