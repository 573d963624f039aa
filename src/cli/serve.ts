// `calitrace serve`: the collector and the gRPC API, no UI. Also exports the API flags and the start-up
// helper that `calitrace trace` uses to serve the API beside its own output.
import * as os from 'node:os';
import { Command, UsageError, intOption, parseCommandArgs } from './command';
import { startCollector, RunningCollector } from '../collector/start';
import { onCollectorError } from '../collector/collector';
import { ObserveFeed } from '../api/feed';
import { feedFromCollector } from '../api/collector-feed';
import { startApiServer, ApiServer } from '../api/server';
import { DEFAULT_LISTEN, ListenPolicyError, SecurityOptions, checkListenPolicy, parseListenAddress, readTokenFile } from '../api/security';
import { labNodeOf } from '../api/pods';
import type { PodDirectory } from '../api/convert';
import { POD_NAME_HELP, POD_NAME_OPTIONS, choosePodNameSource, startPodNames } from './pod-names';
import type { CaptureMode } from '../capture/capture';

/** The API flags shared by `serve` and `trace`. */
export const API_SERVER_OPTIONS = {
  listen: { type: 'string' },
  'tls-cert': { type: 'string' },
  'tls-key': { type: 'string' },
  'tls-client-ca': { type: 'string' },
  'token-file': { type: 'string' },
  insecure: { type: 'boolean' },
  'max-subscribers': { type: 'string' },
  history: { type: 'string' },
  queue: { type: 'string' },
  node: { type: 'string' },
} as const;

export const API_SERVER_HELP = `  --listen ADDR          API address: HOST:PORT or unix:/PATH (default ${DEFAULT_LISTEN}). Any address
                         but loopback or a unix socket needs --tls-cert/--tls-key, or --insecure
  --tls-cert FILE        server certificate (PEM)
  --tls-key FILE         server private key (PEM)
  --tls-client-ca FILE   require client certificates signed by this CA (mutual TLS)
  --token-file FILE      require 'authorization: Bearer <token>' with the token in FILE
  --insecure             allow a non-loopback address without TLS (prints a warning)
  --max-subscribers N    concurrent Observe streams (default 128)
  --history N            recent items kept for --last/--since (default 10000)
  --queue N              items queued per subscriber before it loses some (default 4096)
  --node NAME            node name stamped on every item (default: the lab node's name, or the hostname)
`;

export interface ApiFlags {
  listen?: string;
  'tls-cert'?: string;
  'tls-key'?: string;
  'tls-client-ca'?: string;
  'token-file'?: string;
  insecure?: boolean;
  'max-subscribers'?: string;
  history?: string;
  queue?: string;
  node?: string;
}

export interface ApiSettings {
  listen: string;
  security: SecurityOptions;
  hub: { maxSubscribers: number; historyCapacity: number; queueCapacity: number };
  node?: string;
}

/** Validates the API flags; throws UsageError with the fix (before anything starts). */
export function apiSettings(v: ApiFlags): ApiSettings {
  const listen = v.listen ?? DEFAULT_LISTEN;
  if (!!v['tls-cert'] !== !!v['tls-key']) throw new UsageError('--tls-cert and --tls-key go together');
  if (v['tls-client-ca'] && !v['tls-cert']) throw new UsageError('--tls-client-ca (mutual TLS) needs --tls-cert and --tls-key');
  const security: SecurityOptions = { insecure: v.insecure === true };
  if (v['tls-cert']) security.tls = { certFile: v['tls-cert'], keyFile: v['tls-key']!, clientCaFile: v['tls-client-ca'] };
  try {
    if (v['token-file']) security.token = readTokenFile(v['token-file']);
    // Checked here so a refused address fails before the tracer starts; the warning comes at bind time.
    checkListenPolicy(parseListenAddress(listen), security, () => undefined);
  } catch (err) {
    if (err instanceof ListenPolicyError) throw new UsageError(err.message);
    throw err;
  }
  const maxSubscribers = intOption('max-subscribers', v['max-subscribers'], 128);
  const historyCapacity = intOption('history', v.history, 10000);
  const queueCapacity = intOption('queue', v.queue, 4096);
  if (queueCapacity < 1) throw new UsageError('--queue must be at least 1');
  return { listen, security, hub: { maxSubscribers, historyCapacity, queueCapacity }, node: v.node };
}

export interface ServingApi {
  api: ApiServer;
  feed: ObserveFeed;
  close(): Promise<void>;
}

/** What a served collector is: where it traces, and who tells it pod names (src/cli/pod-names.ts). */
export interface ServeContext {
  netns?: string;
  mode: string;
  pods?: PodDirectory;
}

/** Serves a running collector on the API; `close()` stops the API only. */
export async function serveCollector(running: RunningCollector, s: ApiSettings, ctx: ServeContext): Promise<ServingApi> {
  const lab = labNodeOf(ctx.netns);
  const feed = new ObserveFeed({
    node: s.node ?? lab?.nodeName ?? os.hostname(),
    pods: ctx.pods,
    hub: s.hub,
  });
  const bound = feedFromCollector(running, feed, { mode: ctx.mode, netns: ctx.netns });
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

/**
 * For `calitrace trace`: serves the API beside the trace unless --no-api. The API is a convenience
 * there, so a busy port (another trace on this machine) is a warning, not a failure.
 */
export async function serveBesideTrace(
  running: RunningCollector,
  settings: ApiSettings | undefined,
  ctx: ServeContext,
  log: (m: string) => void,
): Promise<ServingApi | undefined> {
  if (!settings) return undefined;
  try {
    const serving = await serveCollector(running, settings, ctx);
    log(`API on ${serving.api.address} (calitrace observe --server ${serving.api.address}; --no-api to turn it off)`);
    return serving;
  } catch (err) {
    log(`not serving the API: ${(err as Error).message} (use --listen ADDR, or --no-api)`);
    return undefined;
  }
}

const HELP = `calitrace serve — the tracer and the gRPC API for remote subscribers, no UI

Usage: calitrace serve [--listen ADDR] [--netns NS] [--mode packet|flow] [--iface PATTERN]...
                       [--tls-cert FILE --tls-key FILE [--tls-client-ca FILE]] [--token-file FILE]
                       [--kubeconfig FILE [--kube-context NAME] | --no-kubernetes]

Runs the collector (BPF capture + live route model + path matching) on this node, or in network namespace
NS, and serves calitrace.v1.Calitrace (Observe, Explain, GetRoutes, Status), grpc.health.v1.Health and
server reflection. Stops on Ctrl-C / SIGTERM.

Options:
  --netns NS             trace inside network namespace NS (/var/run/netns/NS), e.g. a lab node
  --mode M               packet (default) or flow capture
  --iface PATTERN        attach to interfaces matching PATTERN (repeatable; default: cali*, vxlan.calico
                         and its underlay)
${API_SERVER_HELP}  -h, --help             this help

${POD_NAME_HELP}
EXAMPLES
  calitrace serve --netns ct-node1
  calitrace serve --netns ct-node1 --listen unix:/run/calitrace.sock
  calitrace serve                                   # on a real node: pod names in-cluster or from ~/.kube/config
  calitrace serve --kubeconfig /etc/kubernetes/admin.conf --kube-context kubernetes-admin@cluster
  calitrace serve --no-kubernetes                   # IPs only, no Kubernetes API requests
  calitrace serve --listen 0.0.0.0:4245 --tls-cert server.pem --tls-key server-key.pem \\
                  --tls-client-ca clients-ca.pem --token-file /etc/calitrace/token
  calitrace observe --server 127.0.0.1:4245 --follow          # then, from another terminal
`;

async function run(argv: string[]): Promise<number> {
  const { values } = parseCommandArgs('serve', argv, {
    ...API_SERVER_OPTIONS,
    netns: { type: 'string' },
    mode: { type: 'string' },
    iface: { type: 'string', multiple: true },
    ...POD_NAME_OPTIONS,
  }, false);
  const mode = (values.mode ?? 'packet') as CaptureMode;
  if (mode !== 'packet' && mode !== 'flow') throw new UsageError(`--mode takes packet or flow, got '${values.mode}'`);
  const settings = apiSettings(values);
  const log = (m: string) => process.stderr.write(`calitrace serve: ${m}\n`);
  const podSource = choosePodNameSource(values, values.netns);

  const running = await startCollector({ netns: values.netns, mode, patterns: values.iface });
  log(podSource.description);
  const pods = startPodNames(podSource, log);
  // The API's directory is also evidence for the causes verdicts name (a lab node has its lab's already).
  if (podSource.kind === 'kubernetes') running.collector.useCluster({ pods: pods.directory, knownNodes: pods.knownNodes });
  let serving: ServingApi;
  try {
    serving = await serveCollector(running, settings, { netns: values.netns, mode, pods: pods.directory });
  } catch (err) {
    pods.stop();
    await running.stop();
    throw err;
  }
  log(`API on ${serving.api.address} (node ${serving.feed.node}, ${values.netns ? `netns ${values.netns}` : 'this namespace'}, ${mode} mode)`);
  let failure: Error | undefined;
  await new Promise<void>((resolve) => {
    process.once('SIGINT', () => resolve());
    process.once('SIGTERM', () => resolve());
    onCollectorError(running.collector, {
      warn: log,
      fatal: (err) => {
        failure = err;
        serving.api.health.set('', 'NOT_SERVING');
        resolve();
      },
    });
  });
  await serving.close();
  pods.stop();
  await running.stop();
  const c = running.collector.counters();
  log(`stopped: ${c.received} events received, ${c.packets} packets judged; lost ${c.lostKernel} in kernel, ${c.lostPipe} in pipe; ${serving.feed.hub.stats().lostBySubscribers} by slow subscribers`);
  if (failure) {
    log(failure.message);
    return 1;
  }
  return 0;
}

export const serveCommand: Command = {
  name: 'serve',
  summary: 'run the tracer and the gRPC API (Observe/Explain/GetRoutes/Status), no UI',
  help: HELP,
  run,
};
