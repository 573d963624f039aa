// A running collector served on the gRPC API: the feed (hub + pod names) and the server, closed
// together. The settings arrive validated (src/cli/serve.ts reads the flags).
import * as os from 'node:os';
import type { RunningCollector } from '../collector/start';
import { ObserveFeed } from '../api/feed';
import { feedFromCollector } from '../api/collector-feed';
import { startApiServer, ApiServer } from '../api/server';
import type { SecurityOptions } from '../api/security';
import type { PodDirectory } from '../pods/directory';
import { labNodeOf } from '../pods/lab';

export interface ApiSettings {
  listen: string;
  security: SecurityOptions;
  hub: { maxSubscribers: number; historyCapacity: number; queueCapacity: number };
  node?: string;
}

export interface ServingApi {
  api: ApiServer;
  feed: ObserveFeed;
  close(): Promise<void>;
}

/** What a served collector is: where it traces, and who tells it pod names. */
export interface ServeContext {
  netns?: string;
  mode: string;
  pods?: PodDirectory;
  /** The capture copies this many bytes per packet: verdicts carry them (observe --write). */
  snaplen?: number;
  /** Where the pod names come from, for Status. */
  podNames?: string;
}

/** The node name stamped on every item and metric: --node, the lab node's name, or the hostname. */
export function nodeName(s: { node?: string }, netns: string | undefined): string {
  return s.node ?? labNodeOf(netns)?.nodeName ?? os.hostname();
}

/** Serves a running collector on the API; `close()` stops the API only. */
export async function serveCollector(running: RunningCollector, s: ApiSettings, ctx: ServeContext): Promise<ServingApi> {
  const feed = new ObserveFeed({
    node: nodeName(s, ctx.netns),
    pods: ctx.pods,
    hub: s.hub,
  });
  const bound = feedFromCollector(running, feed, { mode: ctx.mode, netns: ctx.netns, snaplen: ctx.snaplen, podNames: ctx.podNames });
  let api: ApiServer;
  try {
    api = await startApiServer({ listen: s.listen, ...s.security, feed, backend: bound.backend });
  } catch (err) {
    bound.detach();
    throw err;
  }
  return {
    api,
    feed,
    close: async () => {
      bound.detach();
      await api.close();
    },
  };
}
