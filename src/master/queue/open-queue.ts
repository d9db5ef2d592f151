import { DtError } from "../../common/errors.ts";
import type { Logger } from "../../common/log.ts";
import type { ExternalQueue } from "../scheduler/dispatcher.ts";
import { isTubeName, parseBeanstalkUrl } from "./beanstalk-client.ts";
import { BeanstalkOfferSink } from "./offer-sink.ts";

export const DEFAULT_TUBE_PREFIX = "dt";
/**
 * 16 ready jobs per dimension set: enough that slaves finishing tasks at
 * once never find a tube empty between two feeds, and that work goes on for
 * a while when the master is away; few enough that fair share between users
 * still decides almost every start.
 */
export const DEFAULT_FEED_AHEAD = 16;
/** Tubes are topped up this often besides when work arrives or a slave claims a job. */
const FEED_INTERVAL_MS = 250;

export interface ExternalQueueOptions {
  tubePrefix?: string;
  feedAhead?: number;
  /** The TTR is the lease TTL: beanstalkd gives a silent slave's job away when the master would. */
  leaseTtlMs: number;
  log: Logger;
}

/** Connects to the queue named by `--queue`; fails at start, naming it, when it cannot. */
export async function openExternalQueue(url: string, o: ExternalQueueOptions): Promise<ExternalQueue & { address: string }> {
  if (!/^beanstalkd?:\/\//.test(url)) throw new DtError("invalid_input", `--queue ${JSON.stringify(url)}: write beanstalk://host:port (or leave it out for the in-process queue)`);
  const address = parseBeanstalkUrl(url);
  const tubePrefix = o.tubePrefix ?? DEFAULT_TUBE_PREFIX;
  if (!isTubeName(`${tubePrefix}.any`) || tubePrefix.length > 40) throw new DtError("invalid_input", `--queue-tube-prefix ${JSON.stringify(tubePrefix)}: use up to 40 letters, digits and -+/;.$_()`);
  const feedAhead = o.feedAhead ?? DEFAULT_FEED_AHEAD;
  if (!Number.isInteger(feedAhead) || feedAhead < 1 || feedAhead > 10_000) throw new DtError("invalid_input", `--queue-feed-ahead ${feedAhead}: use an integer from 1 to 10000`);
  const ttrSec = Math.ceil(o.leaseTtlMs / 1000);
  // A slave's touch may wait a whole reserve poll (1 s) behind its own reserve on the one connection.
  if (ttrSec < 3) throw new DtError("invalid_input", `--lease-ttl of ${o.leaseTtlMs} ms is too short for beanstalkd's time-to-run; use at least 3s`);
  const sink = await BeanstalkOfferSink.open(address, o.log);
  return { sink, feeder: { tubePrefix, feedAhead, ttrSec, intervalMs: FEED_INTERVAL_MS }, address: `${address.host}:${address.port}` };
}
