/**
 * Input mutation for dt's fuzz tests: byte-level edits of valid seeds (bit
 * flips, insertions, deletions, splices of other seeds, dictionary tokens,
 * huge numbers, deep nesting, long runs, invalid UTF-8); mutate-json.ts
 * edits parsed JSON. Everything draws from the `random` it is given, so a
 * seed replays the same inputs.
 *
 * @example
 *   const mutator = new Mutator(seededRandom(7), { seeds: [utf8("[s]\nk = v\n")], dictionary: ["[", "="] });
 *   const input = mutator.next(); // a Uint8Array: a mutated seed, now and then random bytes
 */

export type Random = () => number;

/** An integer in [0, n). */
export const below = (random: Random, n: number): number => Math.floor(random() * n);

export const pick = <T>(random: Random, items: readonly T[]): T => items[below(random, items.length)]!;

export const chance = (random: Random, p: number): boolean => random() < p;

/**
 * A size from 1 to `max`, uniform in its logarithm: mostly small, but
 * thousands and millions come up often enough to find size-dependent bugs.
 */
export function logSize(random: Random, max: number): number {
  return Math.max(1, Math.min(max, Math.floor(Math.exp(random() * Math.log(max + 1)))));
}

const encoder = new TextEncoder();
export const utf8 = (text: string): Uint8Array => encoder.encode(text);
/** Decodes as a file read with "utf8" is: invalid sequences become U+FFFD. */
export const lenientText = (bytes: Uint8Array): string => new TextDecoder().decode(bytes);

/** Tokens that matter to most of dt's grammars, or have broken parsers before. */
export const COMMON_TOKENS: readonly string[] = [
  "{", "}", "[", "]", "(", ")", '"', "'", "\\", ",", ":", "=", ";", "#", "&", "%", "+", "-", ".", "/", "\n", "\r\n", "\r", "\t", " ",
  "\\u0000", "\0", "\\x00", "\\", "\\u", "\\ud800", "\u2028", "\uFEFF", "\uFFFF", "😀", "é",
  "__proto__", "constructor", "prototype", "toString", "hasOwnProperty", "length",
  "null", "true", "false", "None", "True", "NaN", "Infinity", "-Infinity", "undefined",
  "0", "-0", "-1", "1.5", "1e309", "-1e309", "1e-400", "9007199254740993", "-9007199254740993", "18446744073709551616",
  "2147483648", "4294967296", "0x7fffffff", "1_000", "١٢٣",
  "%00", "%ff", "%", "%zz", "%u0041", "%C0%80",
];

/** Numbers past every limit and precision a parser might assume. */
export const HUGE_NUMBERS: readonly string[] = [
  "1e309", "-1e309", "9".repeat(400), "-" + "9".repeat(400), "9007199254740993", "18446744073709551617", "1e-400", "0." + "0".repeat(400) + "1",
  "-0", "2147483648", "-2147483649", "00000000000000000001", "1" + "0".repeat(30),
];

/** Byte sequences that are not UTF-8: stray continuation, overlong, surrogate, truncated, out of range. */
export const INVALID_UTF8: readonly Uint8Array[] = [
  [0x80], [0xbf], [0xc0, 0x80], [0xc1, 0xbf], [0xe0, 0x80, 0x80], [0xed, 0xa0, 0x80], [0xed, 0xbf, 0xbf], [0xf4, 0x90, 0x80, 0x80],
  [0xf8, 0x88, 0x80, 0x80, 0x80], [0xfe], [0xff], [0xc3], [0xe2, 0x82], [0xf0, 0x9f, 0x98],
].map((bytes) => Uint8Array.from(bytes));

/** Replaces `deleteCount` bytes at `at` with `insert`. */
export function spliceBytes(input: Uint8Array, at: number, deleteCount: number, insert: Uint8Array = new Uint8Array(0)): Uint8Array {
  const out = new Uint8Array(input.length - deleteCount + insert.length);
  out.set(input.subarray(0, at), 0);
  out.set(insert, at);
  out.set(input.subarray(at + deleteCount), at + insert.length);
  return out;
}

/** `unit` repeated `times` times, by doubling: a megabyte costs microseconds. */
function repeatBytes(unit: Uint8Array, times: number): Uint8Array {
  const out = new Uint8Array(unit.length * times);
  if (out.length === 0) return out;
  out.set(unit, 0);
  for (let filled = unit.length; filled < out.length; filled *= 2) out.copyWithin(filled, 0, Math.min(filled, out.length - filled));
  return out;
}

export interface MutatorOptions {
  /** Valid inputs that mutations start from and splice in. */
  seeds: readonly Uint8Array[];
  /** The grammar's own tokens, used beside COMMON_TOKENS. */
  dictionary?: readonly string[];
  /**
   * Longest input produced. Large enough for inputs past every size limit
   * inside the parsers (1 MiB nesting, 10 MiB files are checked separately),
   * small enough that one input costs milliseconds.
   */
  maxLength?: number;
  /** Deepest nesting and longest run one edit adds. */
  maxRepeat?: number;
}

type Edit = (input: Uint8Array) => Uint8Array;

/**
 * Makes inputs from seeds by stacking random edits. Stateless apart from the
 * PRNG: the n-th input of a seed is the same on every run.
 */
export class Mutator {
  private readonly seeds: readonly Uint8Array[];
  private readonly tokens: readonly Uint8Array[];
  private readonly maxLength: number;
  private readonly maxRepeat: number;
  private readonly edits: readonly Edit[];

  constructor(private readonly random: Random, options: MutatorOptions) {
    if (options.seeds.length === 0) throw new Error("a Mutator needs at least one seed");
    this.seeds = options.seeds;
    this.tokens = [...(options.dictionary ?? []), ...(options.dictionary ?? []), ...COMMON_TOKENS].map(utf8);
    this.maxLength = options.maxLength ?? 1 << 21;
    this.maxRepeat = options.maxRepeat ?? 200_000;
    const r = random;
    const at = (input: Uint8Array) => below(r, input.length + 1);
    const spanAt = (input: Uint8Array, start: number) => Math.min(input.length - start, logSize(r, 64));
    const token = () => (chance(r, 0.1) ? pick(r, INVALID_UTF8) : pick(r, this.tokens));
    const small: Edit[] = [
      // Bit flip, byte set, random bytes in.
      (input) => {
        if (input.length === 0) return Uint8Array.of(below(r, 256));
        const out = input.slice();
        out[below(r, out.length)]! ^= 1 << below(r, 8);
        return out;
      },
      (input) => {
        if (input.length === 0) return Uint8Array.of(below(r, 256));
        const out = input.slice();
        out[below(r, out.length)] = chance(r, 0.5) ? below(r, 256) : pick(r, [0, 0x7f, 0x80, 0xff, 0x22, 0x27, 0x5c, 0x7b, 0x5b, 0x0a, 0x3d]);
        return out;
      },
      (input) => spliceBytes(input, at(input), 0, Uint8Array.from({ length: 1 + below(r, 8) }, () => below(r, 256))),
      // Delete, duplicate, truncate.
      (input) => {
        const start = at(input);
        return spliceBytes(input, start, spanAt(input, start));
      },
      (input) => {
        const start = at(input);
        return spliceBytes(input, at(input), 0, input.slice(start, start + spanAt(input, start)));
      },
      (input) => input.slice(0, at(input)),
      // Dictionary tokens, inserted or over a span.
      (input) => spliceBytes(input, at(input), 0, token()),
      (input) => {
        const start = at(input);
        return spliceBytes(input, start, spanAt(input, start), token());
      },
      // Splices with another seed: a prefix of this one and a suffix of that, or a chunk of it inserted.
      (input) => {
        const other = pick(r, this.seeds);
        const cut = below(r, other.length + 1);
        const start = at(input);
        return spliceBytes(input, start, input.length - start, other.subarray(cut));
      },
      (input) => {
        const other = pick(r, this.seeds);
        const start = below(r, other.length + 1);
        return spliceBytes(input, at(input), 0, other.subarray(start, start + logSize(r, 256)));
      },
      // A number becomes a huge or odd one (or one is inserted).
      (input) => {
        const text = lenientText(input.subarray(0, 65_536));
        const numbers = [...text.matchAll(/-?\d+/g)];
        const huge = utf8(pick(r, HUGE_NUMBERS));
        if (numbers.length === 0 || text.length !== input.length) return spliceBytes(input, at(input), 0, huge);
        const match = pick(r, numbers);
        return spliceBytes(input, match.index, match[0].length, huge);
      },
    ];
    const large: Edit[] = [
      // Deep nesting, optionally closed again.
      (input) => {
        const open = utf8(pick(r, ["[", "{", "(", '{"a":', "{'a':", "[[", "{\"tasks\":["]));
        const depth = logSize(r, this.maxRepeat);
        const start = at(input);
        let out = spliceBytes(input, start, 0, repeatBytes(open, depth));
        if (chance(r, 0.5)) {
          const close = utf8(open[0] === 0x5b ? "]" : open[0] === 0x28 ? ")" : "}");
          out = spliceBytes(out, start + open.length * depth, 0, repeatBytes(close, depth * (open.length === 2 ? 2 : 1)));
        }
        return out;
      },
      // A long run of one byte or token.
      (input) => {
        const unit = chance(r, 0.5) ? Uint8Array.of(pick(r, [0x61, 0x20, 0x5c, 0x22, 0x27, 0x30, 0x00, 0x25, 0x2c, 0x0a, 0xff])) : token();
        return spliceBytes(input, at(input), 0, repeatBytes(unit, Math.max(1, Math.floor(logSize(r, this.maxRepeat * 4) / Math.max(1, unit.length)))));
      },
    ];
    // Large edits cost milliseconds per input; at one edit in 14 they still come up hundreds of times a second.
    this.edits = [...small, ...small, ...large];
  }

  /** The next input: mostly 1-4 stacked edits of a seed, sometimes many, now and then random bytes or a token soup. */
  next(): Uint8Array {
    const r = this.random;
    const roll = r();
    if (roll < 0.03) return Uint8Array.from({ length: logSize(r, 4096) }, () => below(r, 256));
    if (roll < 0.06) {
      const parts: Uint8Array[] = Array.from({ length: logSize(r, 200) }, () => pick(r, this.tokens));
      return Buffer.concat(parts);
    }
    let input = pick(r, this.seeds);
    const edits = chance(r, 0.1) ? logSize(r, 32) : 1 + below(r, 4);
    for (let i = 0; i < edits; i++) input = this.mutate(input);
    return input;
  }

  /** One random edit of `input`, cut to maxLength. */
  mutate(input: Uint8Array): Uint8Array {
    const out = pick(this.random, this.edits)(input);
    return out.length > this.maxLength ? out.subarray(0, this.maxLength) : out;
  }
}
