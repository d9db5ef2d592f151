/**
 * The tasks of the browser tests' scenario job (scenario-job.ts): their
 * names, the shell scripts they run and what those print. Every script
 * prints gtest-like lines (`[ RUN      ] Suite.Case` … `[       OK ]` or
 * `[  FAILED  ]`), which dt reads as test cases from the stdout, in ANSI
 * colours, which the log viewer must render.
 */
import { RECORD_PID } from "../e2e/processes.ts";

/** How many lines chatty prints at most (~50 ms each, so two to three minutes): a backstop should nobody call finishChatty, far past what a test needs. */
const CHATTY_MAX_LINES = 2_400;

/** The sharded task's `shards`. */
export const SHARDS = 3;
/** The tasks by description (a sharded task's shards are `sharded.0` …). */
export const TASK = { passes: "passes", fails: "fails", flaky: "flaky", sharded: "sharded", lost: "lost", chatty: "chatty" } as const;
/** The failing task's failing case, and the lines of its stdout from its `[ RUN ]` to its `[  FAILED  ]` (see FAILS_SCRIPT). */
export const FAILED_CASE = "Checkout.TotalsMatch";
export const FAILED_CASE_LINES = { first: 35, last: 41 } as const;
export const FLAKY_CASE = "Network.Reconnects";

/** GTEST_FILTER for dt's sample binary without the cases that fail on purpose: the sharded task passes. */
export const SAMPLE_PASSING_FILTER = "-MathTest.FailsOnPurpose:TextTest.Escapes:SizeTest/*.ExactlyOne:Small/ParityTest.IsEven/1";

const ESC = "\\033";
const green = (text: string) => `${ESC}[32m${text}${ESC}[0m`;
const red = (text: string) => `${ESC}[31m${text}${ESC}[0m`;
/** printf with its format in single quotes: the ANSI escapes and gtest's brackets reach the log as they are. */
const say = (format: string, ...args: string[]) => `printf '${format}\\n'${args.map((a) => ` ${a}`).join("")}`;

export const PASSES_SCRIPT = [say(`${green("[ RUN      ]")} Basics.Passes`), "echo 'all good'", say(`${green("[       OK ]")} Basics.Passes (1 ms)`)].join("\n");

/** Thirty coloured set-up lines, then a gtest-like run with one passing and one failing case (FAILED_CASE_LINES). */
export const FAILS_SCRIPT = [
  say(`${ESC}[1mPreparing${ESC}[0m the checkout fixtures`),
  `i=1; while [ $i -le 30 ]; do ${say(`${ESC}[2msetup step %d${ESC}[0m of 30`, "$i")}; i=$((i+1)); done`,
  say(`${green("[==========]")} Running 2 tests from 1 test suite.`),
  say(`${green("[ RUN      ]")} Checkout.EmptyCart`),
  say(`${green("[       OK ]")} Checkout.EmptyCart (2 ms)`),
  say(`${green("[ RUN      ]")} ${FAILED_CASE}`),
  "echo 'fails_test.cc:12: Failure'",
  "echo 'Expected equality of these values:'",
  "echo '  total'",
  "echo '    Which is: 41'",
  "echo '  42'",
  say(`${red("[  FAILED  ]")} ${FAILED_CASE} (3 ms)`),
  say(`${green("[==========]")} 2 tests from 1 test suite ran. (5 ms total)`),
  say(`${red("[  FAILED  ]")} 1 test, listed below:`),
  say(`${red("[  FAILED  ]")} ${FAILED_CASE}`),
  `echo "${FAILED_CASE} failed" >&2`,
  "exit 1",
].join("\n");

/** Fails (a failing case) the first time, when $FLAKY_MARKER does not exist yet; passes after. */
export const FLAKY_SCRIPT = [
  'if [ ! -e "$FLAKY_MARKER" ]; then',
  '  : > "$FLAKY_MARKER"',
  `  ${say(`${green("[ RUN      ]")} ${FLAKY_CASE}`)}`,
  "  echo 'flaky_test.cc:7: Failure'",
  "  echo 'connection reset by peer'",
  `  ${say(`${red("[  FAILED  ]")} ${FLAKY_CASE} (4 ms)`)}`,
  "  exit 1",
  "fi",
  say(`${green("[ RUN      ]")} ${FLAKY_CASE}`),
  say(`${green("[       OK ]")} ${FLAKY_CASE} (3 ms)`),
].join("\n");

/** Without the gtest binary: one passing gtest-like case per shard, named by the shard's index. */
export const SHARD_STANDIN_SCRIPT = [say(`${green("[ RUN      ]")} Shard.Part%s`, '"$GTEST_SHARD_INDEX"'), say(`${green("[       OK ]")} Shard.Part%s (1 ms)`, '"$GTEST_SHARD_INDEX"')].join("\n");

/** Its first attempt (on `doomed`) records its pid and sleeps until killed; the requeued one passes at once. */
export const LOST_SCRIPT = [
  RECORD_PID,
  say(`${green("[ RUN      ]")} Lost.Survives`),
  'if [ "$DT_ATTEMPT" = 0 ]; then exec sleep 120; fi',
  say(`${green("[       OK ]")} Lost.Survives (1 ms)`),
].join("\n");

/** A coloured line every ~50 ms until $CHATTY_RELEASE exists (or CHATTY_MAX_LINES), then a passing end. */
export const CHATTY_SCRIPT = [
  RECORD_PID,
  say(`${green("[ RUN      ]")} Chatty.Streams`),
  "i=1",
  `while [ ! -e "$CHATTY_RELEASE" ] && [ $i -le ${CHATTY_MAX_LINES} ]; do`,
  `  ${say(`${ESC}[36mtick %d${ESC}[0m: ${ESC}[33mwarming${ESC}[0m the ${ESC}[1mcache${ESC}[0m`, "$i")}`,
  "  i=$((i+1))",
  "  sleep 0.05",
  "done",
  say(`${green("[       OK ]")} Chatty.Streams (%d ms)`, "$((i*50))"),
].join("\n");
