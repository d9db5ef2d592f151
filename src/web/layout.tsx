/** @jsxImportSource hono/jsx */
import type { Context } from "hono";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import { raw } from "hono/html";
import type { Child } from "hono/jsx";
import type { JSX } from "hono/jsx/jsx-runtime";
import type { AttemptView } from "../master/protocol.ts";
import { FOLLOW_SCRIPT } from "./follow-script.ts";
import { LIVE_SCRIPT } from "./live-script.ts";

/**
 * A few rules instead of dist_test's Bootstrap from a CDN: dt's pages load
 * nothing from elsewhere, so they work on an air-gapped network.
 * A constant, so it is safe to inline unescaped.
 */
const CSS = `
body { font: 14px/1.4 system-ui, sans-serif; margin: 1em 2em; color: #222; }
table { border-collapse: collapse; margin-top: 0.5em; }
th, td { border: 1px solid #ccc; padding: 2px 6px; text-align: left; vertical-align: top; }
th { background: #eee; }
code, pre, .mono { font-family: ui-monospace, monospace; }
pre { background: #f7f7f7; border: 1px solid #ddd; padding: 0.5em; white-space: pre-wrap; word-break: break-all; }
.filters a, .filters strong { margin-right: 0.8em; }
.bar { display: flex; width: 80%; height: 14px; border: 1px solid #666; background: #eee; }
.bar .ok { background: #3c3; } .bar .bad { background: #d33; }
tr.running td { background: #ffa; } tr.succeeded td { background: #afa; }
tr.failed td { background: #faa; } tr.flaky td { background: #fc9; } tr.quarantined td { background: #ddd; }
.note { color: #555; }
`;

/**
 * The page shell every view renders into; `css`, a constant, adds a page's
 * own rules. `up` is the way back to the master's root from a page below it
 * (`../` from `/tests/history`): links stay relative, for a master behind a
 * path prefix, and the icon (favicon.ts) is at the root.
 */
export function Page(props: { title: string; css?: string; up?: string; children?: Child }) {
  return (
    <>
      {raw("<!DOCTYPE html>\n")}
      <html lang="en">
      <head>
        <meta charset="utf-8" />
        <title>{props.title}</title>
        <link rel="icon" type="image/svg+xml" href={`${props.up ?? ""}favicon.svg`} />
        <style dangerouslySetInnerHTML={{ __html: CSS + (props.css ?? "") }} />
      </head>
      <body>{props.children}</body>
      </html>
    </>
  );
}

const sha256Source = (script: string) => `'sha256-${new Bun.CryptoHasher("sha256").update(script).digest("base64")}'`;

/**
 * What a page may load and run. The JSX escapes every value, so no markup
 * from a job or a log reaches a page; should an escape ever be missed, the
 * browser still runs no script but dt's own two (the live log's and the
 * live regions', allowed by their hashes), loads nothing from elsewhere, sends no form off the master, and
 * shows the page in no other site's frame. Inline styles stay allowed: the
 * CSS above and the progress bar's widths.
 */
export const PAGE_SECURITY_POLICY = [
  "default-src 'none'",
  `script-src ${[FOLLOW_SCRIPT, LIVE_SCRIPT].map(sha256Source).join(" ")}`,
  "style-src 'unsafe-inline'",
  // The live log polls the master's own API.
  "connect-src 'self'",
  "img-src 'self'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join("; ");

/** Sends a rendered page, under PAGE_SECURITY_POLICY; the JSX escapes every value put into it. */
export function sendPage(c: Context, page: JSX.Element, status: ContentfulStatusCode = 200): Response | Promise<Response> {
  return c.html(page, status, { "Content-Security-Policy": PAGE_SECURITY_POLICY });
}

/** A page's 400 for a query it cannot answer: what is wrong, in words (escaped), and the way home; `up` for a page below the root. */
export function sendBadQuery(c: Context, title: string, message: string, up?: string): Response | Promise<Response> {
  return sendPage(
    c,
    <Page title={title} up={up}>
      <p id="error">{message}</p>
      <p>
        <a href={up ?? "./"}>Back to home</a>
      </p>
    </Page>,
    400,
  );
}

/** A moment as `2023-11-14 22:13:20Z`. */
export function formatTime(ms: number): string {
  return new Date(ms).toISOString().replace("T", " ").replace(/\.\d+Z$/, "Z");
}

/** `1,097`: a count as the pages write it. */
export const formatCount = (x: number) => x.toLocaleString("en-US");

/** `850 ms`, `12.3 s`, `4 m 05 s`, `2 h 03 m`. */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  const s = Math.round(ms / 1000);
  if (s < 3600) return `${Math.floor(s / 60)} m ${String(s % 60).padStart(2, "0")} s`;
  return `${Math.floor(s / 3600)} h ${String(Math.floor((s % 3600) / 60)).padStart(2, "0")} m`;
}

/** Time on a slave: from the lease to the report, or to `now` while it runs; null before a slave took it. */
export function attemptDurationMs(a: AttemptView, now: number): number | null {
  if (a.leased_at === null) return null;
  return (a.reported_at ?? now) - a.leased_at;
}

/** A link within dt's pages, relative so that the master may sit behind a path prefix. */
export function pageLink(path: string, query: Record<string, string | number>): string {
  const search = new URLSearchParams(Object.entries(query).map(([k, v]): [string, string] => [k, String(v)]));
  return `${path}?${search}`;
}
