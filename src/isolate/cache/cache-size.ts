import { DtError } from "../../common/errors.ts";
import { formatBytes, parseSize } from "../../common/units.ts";

/**
 * The smallest --max-cache-size taken. A number without a unit is bytes, so
 * `--max-cache-size 50` (meant as 50 GiB) or 0 would make a cache that
 * holds no real tree: every task a slave leased would fail as too big for
 * it, at once, and not count against the slave's health. No test tree is
 * that small; a typo is.
 */
export const MIN_CACHE_BYTES = 2 ** 20;

/**
 * Reads a cache size limit (`flag` names it in errors), refusing one under
 * MIN_CACHE_BYTES.
 *
 * @example parseCacheSize("50GiB", "--max-cache-size") // 53687091200
 */
export function parseCacheSize(text: string, flag: string): number {
  const bytes = parseSize(text, flag);
  if (bytes < MIN_CACHE_BYTES) {
    throw new DtError("invalid_input", `${flag}: ${JSON.stringify(text)} is ${formatBytes(bytes)}, less than the ${formatBytes(MIN_CACHE_BYTES)} a cache needs; a number without a unit is bytes: write e.g. 50GiB`);
  }
  return bytes;
}
