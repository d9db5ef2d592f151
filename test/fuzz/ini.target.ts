/**
 * Fuzz target: the INI parser of `~/.dist_test.cnf` (src/common/ini.ts), fed
 * bytes decoded as Config.load reads the file.
 */
import { parseIni } from "../../src/common/ini.ts";
import { type FuzzTarget, showBytes, shrinkBytes } from "./harness.ts";
import { Mutator, lenientText, utf8 } from "./mutate.ts";

/** Configs as users write them: the README's, dist_test's sample, and every form of the dialect. */
export const INI_SEEDS: readonly string[] = [
  "[dist_test]\nmaster = http://master.example:8081\n[isolate]\nserver = http://master.example:8081\n",
  `# dist_test's sample ~/.dist_test.cnf
[dist_test]
master = http://dist-test.example.com:8081/
user = alice
password = s3cr=t:pass
url_timeout = 10
job_path = ~/.dist-test-last-job

; the CAS
[isolate]
server = http://isolate.example.com:4242
cache_dir = /tmp/isolate-cache
`,
  "[dist_test]\r\nMaster: http://m:8081\r\nUSER=bob\r\n\r\n[ isolate ]\r\nserver =\r\n",
  "[dist_test]\nmaster = http://m:8081\n  continued on\n\tand on\n[dist_test]\nuser = carol # not a comment\n[__proto__]\n__proto__ = constructor\n",
];

export const iniTarget: FuzzTarget<Uint8Array> = {
  seeds: INI_SEEDS.map(utf8),
  inputs(random) {
    const mutator = new Mutator(random, {
      seeds: INI_SEEDS.map(utf8),
      dictionary: ["[", "]", "[dist_test]", "[isolate]", "[]", "[ ]", "=", ":", " = ", "#", ";", "\n ", "\n\t", "master", "server", "\\", "~/"],
    });
    return () => mutator.next();
  },
  run(input) {
    const data = parseIni(lenientText(input), "fuzz.cnf");
    for (const section of data.values()) {
      for (const value of section.values()) if (typeof value !== "string") throw new Error(`a value is ${typeof value}, not a string`);
    }
  },
  show: showBytes,
  shrink: shrinkBytes,
};
