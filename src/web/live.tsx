/** @jsxImportSource hono/jsx */
/** The server's half of a live region (live-script.ts): the region's markup, its polls' answers. */
import type { Context } from "hono";
import type { Child } from "hono/jsx";
import type { JSX } from "hono/jsx/jsx-runtime";
import { PAGE_SECURITY_POLICY } from "./layout.tsx";
import { LIVE_SCRIPT } from "./live-script.ts";

/** How often a live region asks: a cheap 304 while nothing changed. */
export const LIVE_POLL_MS = 2_000;

/** An ETag as HTTP quotes it. */
export const quoteEtag = (tag: string) => `"${tag.replace(/["\\]/g, "")}"`;

/**
 * A region a page keeps current: `src` answers its polls with the region's
 * new HTML (see sendFragment). `live` false (a finished job) renders the
 * same region still, without the script.
 */
export function LiveRegion(props: { id: string; src: string; etag: string; live: boolean; children?: Child }) {
  return (
    <>
      <p class="note" id="live-status" aria-live="polite" />
      <div id={props.id} data-live-src={props.live ? props.src : undefined} data-live-etag={quoteEtag(props.etag)} data-live-ms={String(LIVE_POLL_MS)}>
        {props.children}
      </div>
      {props.live ? <script dangerouslySetInnerHTML={{ __html: LIVE_SCRIPT }} /> : null}
    </>
  );
}

/** What every answer to a poll carries: the page's CSP, its ETag, no caching, and whether the region is done changing. */
function fragmentHeaders(etag: string, done: boolean): Record<string, string> {
  return { "Content-Security-Policy": PAGE_SECURITY_POLICY, ETag: quoteEtag(etag), "Cache-Control": "no-store", "X-Live-Done": String(done) };
}

/** A poll whose region shows `etag` already: 304, nothing rendered. */
export function notModified(c: Context, etag: string): Response {
  return c.body(null, 304, fragmentHeaders(etag, false));
}

/** A live region's poll answered: 304 when it shows `etag` already, else the fragment, marked done when it will not change again. */
export function sendFragment(c: Context, etag: string, done: boolean, render: () => JSX.Element | Promise<JSX.Element>): Response | Promise<Response> {
  if (c.req.header("If-None-Match") === quoteEtag(etag)) return notModified(c, etag);
  return Promise.resolve(render()).then((element) => c.html(element, 200, fragmentHeaders(etag, done)));
}
