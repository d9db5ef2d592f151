/**
 * dt's icon: three bars of a timeline, two passed and one failed, on a dark
 * tile, the runs of a job side by side. An inline SVG, so nothing is loaded
 * from elsewhere and the binary embeds it as a string.
 */
import { Hono } from "hono";

/** A constant: served as it is, never built from input. */
export const FAVICON_SVG = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16"><rect width="16" height="16" rx="3" fill="#234"/><rect x="3" y="3" width="10" height="2.4" fill="#6c6"/><rect x="3" y="6.8" width="7" height="2.4" fill="#6c6"/><rect x="3" y="10.6" width="4" height="2.4" fill="#d55"/></svg>`;

/** A day: the icon changes only with dt, and a browser asks for it with every page otherwise. */
const ICON_MAX_AGE_SEC = 86_400;

/**
 * `/favicon.svg`, which every page links (Page in layout.tsx), and
 * `/favicon.ico`, which browsers ask for by themselves where a response
 * links no icon (a raw log, JSON): the same SVG, since Chromium and Firefox
 * take an icon by its Content-Type, not by its name. Without them each
 * page's first load logged a 404 in the browser's console.
 */
export function faviconRoutes(): Hono {
  const app = new Hono();
  const icon = () => new Response(FAVICON_SVG, { headers: { "Content-Type": "image/svg+xml", "Cache-Control": `public, max-age=${ICON_MAX_AGE_SEC}` } });
  app.get("/favicon.svg", icon);
  app.get("/favicon.ico", icon);
  return app;
}
