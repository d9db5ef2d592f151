import { DtError } from "../common/errors.ts";
import { dtErrorOfResponse } from "../common/http.ts";
import type { AutoscaleDecision, QueueDemand, SlaveView } from "../master/protocol.ts";

/** Per request: the master answers these from memory in milliseconds; a minute is a master in trouble, and the next tick asks again. */
const REQUEST_TIMEOUT_MS = 60_000;

/**
 * What `dt autoscale` asks of the master's native API (protocol.ts): the
 * queue's demand and the slaves to size by, drain and resume to shrink
 * safely, and its decisions to show. One try per call; the caller's next
 * tick is the retry.
 *
 * @example
 *   const api = new AutoscaleApi(url, { fetch: authenticatedFetch(ctx.config, [url]) });
 *   const demand = await api.queue();
 */
export class AutoscaleApi {
  readonly base: string;

  private readonly fetchFn: typeof fetch;
  private readonly timeoutMs: number;
  /** The account the fetch answers with, when one is configured: named in a refusal. */
  private readonly user: string | undefined;

  constructor(master: string, options: { fetch?: typeof fetch; user?: string; timeoutMs?: number } = {}) {
    this.fetchFn = options.fetch ?? fetch;
    this.timeoutMs = options.timeoutMs ?? REQUEST_TIMEOUT_MS;
    this.user = options.user;
    let url: URL;
    try {
      url = new URL(master);
    } catch {
      throw new DtError("invalid_input", `--master ${JSON.stringify(master)} is not a URL; write e.g. http://master:8081`);
    }
    if (url.protocol !== "http:" && url.protocol !== "https:") throw new DtError("invalid_input", `--master ${master}: only http and https URLs are supported`);
    this.base = master.replace(/\/+$/, "");
  }

  async queue(): Promise<QueueDemand> {
    return (await this.call("GET", "/queue")) as QueueDemand;
  }

  async slaves(): Promise<SlaveView[]> {
    return ((await this.call("GET", "/slaves")) as { slaves: SlaveView[] }).slaves;
  }

  /** Asks the slave to finish its running tasks and take no more. */
  async drain(name: string, reason: string): Promise<SlaveView> {
    return (await this.call("POST", `/slaves/${encodeURIComponent(name)}/drain`, { reason })) as SlaveView;
  }

  /** Lifts a drain: the slave takes work again. */
  async resume(name: string, reason: string): Promise<SlaveView> {
    return (await this.call("POST", `/slaves/${encodeURIComponent(name)}/resume`, { reason })) as SlaveView;
  }

  async postDecision(decision: AutoscaleDecision): Promise<void> {
    await this.call("POST", "/autoscaler/decisions", decision);
  }

  private async call(method: "GET" | "POST", path: string, body?: unknown): Promise<unknown> {
    const url = `${this.base}/api/v1${path}`;
    const what = `${method} /api/v1${path}`;
    let res: Response;
    try {
      res = await this.fetchFn(url, {
        method,
        headers: body === undefined ? {} : { "Content-Type": "application/json" },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(this.timeoutMs),
      });
    } catch (err) {
      throw new DtError("unreachable", `${what}: cannot reach the master at ${this.base} (${(err as Error).message})`, { cause: err });
    }
    if (res.status === 401) {
      const hint = this.user !== undefined
        ? `refused user ${JSON.stringify(this.user)}; check user and password in the config`
        : "asks for a password; set user and password under [dist_test] in the config, or DIST_TEST_USER and DIST_TEST_PASSWORD";
      throw new DtError("unauthorized", `${what}: the master at ${this.base} ${hint}`);
    }
    if (!res.ok) throw await dtErrorOfResponse(what, url, res);
    return res.json();
  }
}
