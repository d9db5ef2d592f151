/**
 * The quarantine API under /api/v1: GET quarantine (the active entries, or
 * all with ?all=1), POST quarantine (add) and DELETE quarantine/:id
 * (remove). POST and DELETE are writes for the access guard, as every
 * method but GET and HEAD is.
 */
import { Hono } from "hono";
import { admittedUser } from "../../common/auth/guard.ts";
import { DtError } from "../../common/errors.ts";
import { readBodyLimited } from "../../common/http.ts";
import { parseStrictJson } from "../../common/strict-json.ts";
import type { Master } from "../master.ts";
import type { QuarantineList } from "../protocol.ts";
import { MAX_LISTED_ENTRIES, addQuarantine, quarantineView, removeQuarantine } from "../quarantine/quarantine.ts";
import { MAX_USER_CHARS, validateQuarantineRequest } from "../quarantine/request.ts";
import { MAX_ACTIVE_ENTRIES } from "../quarantine/verdict.ts";

/** A request is a test's name and a reason: a few KB. */
const MAX_BODY_BYTES = 16 * 2 ** 10;

export function quarantineRoutes(master: Master): Hono {
  const app = new Hono();
  const deps = { repo: master.deps.repo, clock: master.deps.clock, log: master.deps.log };

  app.get("/quarantine", async (c) => {
    const query = c.req.query();
    for (const key of Object.keys(query)) if (key !== "all") throw new DtError("invalid_input", `${key}: is not a parameter of GET quarantine (known: all)`);
    if (query.all !== undefined && query.all !== "0" && query.all !== "1") throw new DtError("invalid_input", `all: must be 1 (every entry, removed and expired too) or 0, got ${JSON.stringify(query.all.slice(0, 40))}`);
    const now = deps.clock.now();
    const all = query.all === "1";
    const entries = await deps.repo.listQuarantine(all ? { limit: MAX_LISTED_ENTRIES } : { activeAt: now, limit: MAX_ACTIVE_ENTRIES });
    const body: QuarantineList = { entries: entries.map((e) => quarantineView(e, now)) };
    return c.json(body);
  });

  app.post("/quarantine", async (c) => {
    const bytes = await readBodyLimited(c.req.raw, MAX_BODY_BYTES, "POST quarantine");
    const body = parseStrictJson(new TextDecoder().decode(bytes), { what: "POST quarantine body" });
    const request = validateQuarantineRequest(body, deps.clock.now());
    // An account's name is who it is; the body's user is only what an unauthenticated client (an allowed address) says.
    const entry = await addQuarantine(deps, { ...request, user: admittedUser(c) ?? request.user });
    return c.json(quarantineView(entry, deps.clock.now()), 201);
  });

  app.delete("/quarantine/:id", async (c) => {
    const raw = c.req.param("id");
    if (!/^\d{1,9}$/.test(raw)) throw new DtError("invalid_input", `quarantine id: must be a positive integer (as dt quarantine list shows), got ${JSON.stringify(raw.slice(0, 40))}`);
    const user = admittedUser(c) ?? c.req.query("user") ?? "unknown";
    if (user.length > MAX_USER_CHARS || user === "") throw new DtError("invalid_input", `user: must be 1 to ${MAX_USER_CHARS} characters`);
    // As POST's user: removed_by is shown by dt quarantine list and stored in a text column.
    if (user.includes("\0") || !user.isWellFormed()) throw new DtError("invalid_input", "user: must not contain NUL or a lone UTF-16 surrogate");
    const entry = await removeQuarantine(deps, Number(raw), user);
    return c.json(quarantineView(entry, deps.clock.now()));
  });

  return app;
}
