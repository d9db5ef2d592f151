/**
 * What `dt quarantine add` reads from its command line: the test (`SUITE.NAME`
 * or --suite/--name, --binary optional) and an `--until` date or duration.
 */
import { DtError } from "../common/errors.ts";
import { parseDuration, parseIsoDate } from "../common/units.ts";

/**
 * A test given as `SUITE.NAME`, split at the last '.': gtest's suites hold
 * no '.', but a parameterized suite (`Small/ParityTest`) holds '/', and a
 * JUnit classname (`org.example.FooTest`) holds '.', so the name is what
 * follows the last one.
 *
 * @example splitTest("MathTest.FailsOnPurpose") // { suite: "MathTest", name: "FailsOnPurpose" }
 */
export function splitTest(test: string): { suite: string; name: string } {
  const dot = test.lastIndexOf(".");
  if (dot <= 0 || dot === test.length - 1) {
    throw new DtError("invalid_input", `TEST ${JSON.stringify(test)}: write SUITE.NAME (e.g. MathTest.FailsOnPurpose), or give --suite and --name`);
  }
  return { suite: test.slice(0, dot), name: test.slice(dot + 1) };
}

/** The test named by a positional TEST or by --suite and --name (not both). */
export function testOf(args: { test?: string; suite?: string; name?: string }): { suite: string; name: string } {
  const explicit = args.suite !== undefined || args.name !== undefined;
  if (args.test !== undefined && explicit) throw new DtError("invalid_input", "give the test as SUITE.NAME or as --suite and --name, not both");
  if (args.test !== undefined) return splitTest(args.test);
  if (args.suite === undefined || args.name === undefined || args.suite === "" || args.name === "") {
    throw new DtError("invalid_input", "name the test: dt quarantine add SUITE.NAME, or --suite SUITE --name NAME");
  }
  return { suite: args.suite, name: args.name };
}

/**
 * `--until`: a duration from now (`7d`, `12h`) or a date (`2026-12-31`,
 * midnight UTC, or an ISO time `2026-12-31T18:00:00Z`, UTC without a zone:
 * parseIsoDate, as `dt flaky --since` reads one); epoch ms.
 */
export function untilOf(value: string, now: number): number {
  if (/^\d{4}-\d{2}-\d{2}/.test(value)) {
    const ms = parseIsoDate(value);
    if (ms === null) throw new DtError("invalid_input", `--until ${JSON.stringify(value)}: not a date; write e.g. 2026-12-31, 2026-12-31T18:00:00Z or a duration such as 7d`);
    if (ms <= now) throw new DtError("invalid_input", `--until ${value}: is in the past; the entry would never be active`);
    return ms;
  }
  const ms = parseDuration(value, "--until");
  if (ms <= 0) throw new DtError("invalid_input", `--until ${value}: must be a positive duration`);
  return now + ms;
}
