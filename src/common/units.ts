import { DtError } from "./errors.ts";

const SIZE_UNITS: Record<string, number> = {
  "": 1, b: 1,
  k: 1e3, kb: 1e3, kib: 2 ** 10,
  m: 1e6, mb: 1e6, mib: 2 ** 20,
  g: 1e9, gb: 1e9, gib: 2 ** 30,
  t: 1e12, tb: 1e12, tib: 2 ** 40,
};

/**
 * Parses a byte size as operators write it: `500`, `10MB`, `10MiB`, `1.5G`.
 * Decimal units are powers of 1000 and binary ones (KiB, MiB…) of 1024;
 * a bare `K`/`M`/`G` is decimal, as in `df -H`.
 *
 * @example parseSize("2GiB", "--max-cache-size") // 2147483648
 */
export function parseSize(text: string, what: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$/.exec(text);
  const unit = m ? SIZE_UNITS[m[2]!.toLowerCase()] : undefined;
  if (!m || unit === undefined) {
    throw new DtError("invalid_input", `${what}: cannot read "${text}" as a size; write e.g. 500MB, 10GiB or 1048576`);
  }
  return Math.floor(Number(m[1]) * unit);
}

const DURATION_UNITS: Record<string, number> = {
  ms: 1, "": 1000, s: 1000, m: 60_000, min: 60_000, h: 3_600_000, d: 86_400_000,
};

/**
 * Parses a duration into milliseconds: `30` and `30s` are seconds, then
 * `500ms`, `5m`, `2h`, `7d`; combinations such as `1h30m` add up.
 *
 * @example parseDuration("1h30m", "--min-age") // 5400000
 */
export function parseDuration(text: string, what: string): number {
  const parts = [...text.trim().matchAll(/(\d+(?:\.\d+)?)\s*(ms|min|s|m|h|d|)/g)];
  const joined = parts.map((p) => p[0]).join("");
  if (parts.length === 0 || joined.replace(/\s/g, "") !== text.replace(/\s/g, "")) {
    throw new DtError("invalid_input", `${what}: cannot read "${text}" as a duration; write e.g. 30s, 5m, 2h or 7d`);
  }
  return parts.reduce((sum, p) => sum + Number(p[1]) * DURATION_UNITS[p[2]!]!, 0);
}

/** A byte count for people: `1.5 GiB`. */
export function formatBytes(bytes: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let value = bytes;
  let i = 0;
  while (value >= 1024 && i < units.length - 1) {
    value /= 1024;
    i++;
  }
  return `${i === 0 ? value : value.toFixed(1)} ${units[i]}`;
}

/** `2024-01-02`, `2024-01-02T15:04`, `2024-01-02T15:04:05.123Z`, `…+02:00`: what parseSince reads as a date. */
const ISO_DATE_RE = /^(\d{4}-\d{2}-\d{2})(?:[T ](\d{2}:\d{2}(?::\d{2}(?:\.\d{1,3})?)?)(Z|[+-]\d{2}:\d{2})?)?$/;

/**
 * An ISO date or date-time as epoch ms: UTC unless it names a zone, so that
 * the same text means the same moment on every host; null when it is not
 * one, or names a day that does not exist (Date.parse takes 2024-02-31 as
 * March 2nd: a typo, not a date).
 *
 * @example parseIsoDate("2024-01-02") // 1704153600000
 */
export function parseIsoDate(text: string): number | null {
  const date = ISO_DATE_RE.exec(text.trim());
  if (!date) return null;
  const [, day, time, zone] = date;
  const ms = Date.parse(time === undefined ? `${day}T00:00:00Z` : `${day}T${time}${zone ?? "Z"}`);
  if (!Number.isFinite(ms) || new Date(Date.parse(`${day}T00:00:00Z`)).toISOString().slice(0, 10) !== day) return null;
  return ms;
}

/**
 * A moment as a user names where a look back starts (epoch ms): a duration
 * before `now` (`7d`, `12h`, `1h30m`, with its unit: parseDuration), epoch
 * milliseconds (a bare integer, as the API's other `since` parameters take),
 * or an ISO date or date-time (UTC unless it names a zone, so that the same
 * text means the same moment on every host).
 *
 * @example parseSince("7d", "--since", now) // now - 604800000
 * @example parseSince("2024-01-02", "since", now) // 1704153600000
 */
export function parseSince(text: string, what: string, now: number): number {
  const value = text.trim();
  const fail = (): never => {
    throw new DtError("invalid_input", `${what}: cannot read ${JSON.stringify(text.slice(0, 60))} as a time; write a duration back from now (7d, 12h, 1h30m), epoch milliseconds (1700000000000) or an ISO date (2024-01-02, 2024-01-02T15:04:05Z)`);
  };
  if (/^\d+$/.test(value)) {
    const ms = Number(value);
    return Number.isSafeInteger(ms) ? ms : fail();
  }
  if (ISO_DATE_RE.test(value)) return Math.max(0, parseIsoDate(value) ?? fail());
  if (!/^[\d.\s]+(ms|min|s|m|h|d)/.test(value)) fail();
  let back: number;
  try {
    back = parseDuration(value, what);
  } catch {
    return fail();
  }
  return Number.isFinite(back) ? Math.max(0, now - back) : fail();
}
