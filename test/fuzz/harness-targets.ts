/**
 * Deliberately broken parsers, for harness.test.ts: each fails in one way
 * on inputs holding a marker byte, so the harness must find, minimize and
 * report them.
 */
import { DtError } from "../../src/common/errors.ts";
import { type FuzzTarget, showBytes, shrinkBytes } from "./harness.ts";
import { Mutator, utf8 } from "./mutate.ts";

const SEEDS = [utf8("[dist_test]\nmaster = http://m:8081\n")];

function brokenTarget(run: (input: Uint8Array) => void): FuzzTarget<Uint8Array> {
  return {
    seeds: SEEDS,
    inputs(random) {
      const mutator = new Mutator(random, { seeds: SEEDS, dictionary: ["!"] });
      return () => mutator.next();
    },
    run,
    show: showBytes,
    shrink: shrinkBytes,
  };
}

const BANG = 0x21;

/** Throws a TypeError on any input with a "!", a DtError on any with a "#". */
export const crashingTarget = brokenTarget((input) => {
  if (input.includes(BANG)) throw new TypeError("not a DtError");
  if (input.includes(0x23)) throw new DtError("invalid_input", "a # is refused");
});

/** Spins forever on any input with a "!". */
export const hangingTarget = brokenTarget((input) => {
  // eslint-disable-next-line no-empty
  while (input.includes(BANG)) {}
});

/** Takes 300 ms on any input with a "!". */
export const slowTarget = brokenTarget((input) => {
  if (input.includes(BANG)) Bun.sleepSync(300);
});
