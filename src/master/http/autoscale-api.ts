import { Hono } from "hono";
import { readJsonLimited } from "../../common/http.ts";
import { parseDecision } from "../autoscale/decision-log.ts";
import type { Master } from "../master.ts";
import { queueDemand } from "../scheduler/demand.ts";

/** A decision is a few hundred bytes; its list of slaves at most a few KiB. */
const MAX_DECISION_BYTES = 64 * 2 ** 10;

/** What `dt autoscale` reads and reports, under /api/v1: the queue's demand, and its decisions. */
export function autoscaleRoutes(master: Master): Hono {
  const app = new Hono();
  app.get("/queue", (c) => c.json(queueDemand(master.dispatcher)));
  app.get("/autoscaler/decisions", (c) => c.json({ decisions: master.decisions.list() }));
  app.post("/autoscaler/decisions", async (c) => {
    const decision = parseDecision(await readJsonLimited(c.req.raw, MAX_DECISION_BYTES, "POST autoscaler/decisions"));
    master.decisions.add(decision);
    master.deps.log.info(`autoscaler ${decision.autoscaler}: ${decision.action} ${decision.from} → ${decision.to}: ${decision.reason}`, { autoscaler: decision.autoscaler, action: decision.action, from: decision.from, to: decision.to });
    return c.json(decision, 201);
  });
  return app;
}
