/** @jsxImportSource hono/jsx */
/** A history's runs at a glance, shared by a case's and a binary's history pages. */
import { formatDuration } from "./layout.tsx";

/** One run in the strip: a letter beside its colour (the strip reads without colour too), its job and time on hover. */
export interface StripCell {
  letter: string;
  fill: string;
  title: string;
}

/** Runs given newest first, shown oldest to newest, as a build history reads. */
export function Strip({ cells }: { cells: readonly StripCell[] }) {
  return (
    <p id="strip" aria-label="runs, oldest to newest">
      {[...cells].reverse().map((c) => (
        <span title={c.title} style={`display: inline-block; width: 1.3em; text-align: center; margin-right: 1px; background: ${c.fill}`}>
          {c.letter}
        </span>
      ))}
    </p>
  );
}

/** `fastest 1.0 s, median 2.0 s, slowest 9.0 s` of times sorted ascending (at least one). */
export function timeSpread(sorted: readonly number[]): string {
  return `fastest ${formatDuration(sorted[0]!)}, median ${formatDuration(sorted[Math.floor((sorted.length - 1) / 2)]!)}, slowest ${formatDuration(sorted[sorted.length - 1]!)}`;
}
