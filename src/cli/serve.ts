// `calitrace serve`: the collector and the gRPC API, no UI, as one node session (src/session). Also
// exports the API flags and their validation, which `calitrace trace` shares.
import { Command, UsageError, intOption, parseCommandArgs } from './command';
import { netnsOption } from './netns-option';
import { DEFAULT_LISTEN, ListenPolicyError, SecurityOptions, checkListenPolicy, parseListenAddress, readTokenFile } from '../api/security';
import { POD_NAME_HELP, POD_NAME_OPTIONS, choosePodNameSource } from './pod-names';
import type { CaptureMode } from '../capture/capture';
import { SNAP_DEFAULT, SNAP_MAX } from '../capture/snap';
import { metricsFromCollector } from '../metrics/collector-metrics';
import { DEFAULT_METRICS_ADDR, MetricsServer, checkMetricsAddress, startMetricsServer } from '../metrics/server';
import { ApiSettings, nodeName } from '../session/api';
import { runNodeSession } from '../session/run';

export type { ApiSettings };

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

const HELP = `calitrace serve — the tracer and the gRPC API for remote subscribers, no UI

Usage: calitrace serve [--listen ADDR] [--netns NS] [--mode packet|flow|case] [--iface PATTERN]... [--pid-file FILE]
                       [--tls-cert FILE --tls-key FILE [--tls-client-ca FILE]] [--token-file FILE]
                       [--kubeconfig FILE [--kube-context NAME] | --no-kubernetes]
                       [--metrics-addr HOST:PORT|off] [--snaplen BYTES]

Runs the collector (BPF capture + live route model + path matching) on this node, or in network namespace
NS, and serves calitrace.v1.Calitrace (Observe, Explain, GetRoutes, Status), grpc.health.v1.Health and
server reflection. Stops on Ctrl-C, SIGTERM or SIGHUP: detaches from every interface, then prints what it
judged and lost.

Options:
  --netns NS             trace inside network namespace NS (/var/run/netns/NS), e.g. a lab node
  --mode M               case (the default: every packet judged and counted per path in the kernel;
                         subscribers get a verdict per new path and per drop, and exact counts per
                         flow), packet (every packet's record at every hook: a verdict per packet; the
                         default with --snaplen), or flow (kernel counters per flow, no verdicts)
  --iface PATTERN        attach to interfaces matching PATTERN (repeatable; default: cali*, vxlan.calico
                         and its underlay)
  --pid-file FILE        write this process's id to FILE once it serves (removed when it stops), so
                         'kill $(cat FILE)' stops it whatever started it
${API_SERVER_HELP}  --metrics-addr ADDR    Prometheus metrics at http://ADDR/metrics (default ${DEFAULT_METRICS_ADDR}; 'off' to
                         disable). Same policy as --listen: any address but loopback needs --tls-cert/--tls-key
                         (then https, with --tls-client-ca client certificates are required) or --insecure;
                         --token-file applies too. Metrics: docs/metrics.md
  --snaplen BYTES        copy the first BYTES (1-${SNAP_MAX}) of every traced packet and send them with each
                         verdict's hops, for 'calitrace observe --write FILE.pcapng' (off by default:
                         copying costs; ${SNAP_DEFAULT} holds the outer and inner headers of a VXLAN packet).
                         Packet bytes come with every packet's record: --snaplen means packet mode
  -h, --help             this help

${POD_NAME_HELP}
EXAMPLES
  calitrace serve --netns ct-node1
  calitrace serve --netns ct-node1 --listen unix:/run/calitrace.sock
  calitrace serve --netns ct-node1 --pid-file /run/calitrace.pid &   # later: kill $(cat /run/calitrace.pid)
  calitrace serve                                   # on a real node: pod names in-cluster or from ~/.kube/config
  calitrace serve --kubeconfig /etc/kubernetes/admin.conf --kube-context kubernetes-admin@cluster
  calitrace serve --no-kubernetes                   # IPs only, no Kubernetes API requests
  calitrace serve --listen 0.0.0.0:4245 --tls-cert server.pem --tls-key server-key.pem \\
                  --tls-client-ca clients-ca.pem --token-file /etc/calitrace/token
  calitrace observe --server 127.0.0.1:4245 --follow          # then, from another terminal
  calitrace serve --netns ct-node1 --metrics-addr 127.0.0.1:9245 && curl -s 127.0.0.1:9245/metrics
  calitrace serve --netns ct-node1 --snaplen 128     # then: calitrace observe -f --write - | wireshark -k -i -
`;

async function run(argv: string[]): Promise<number> {
  const { values } = parseCommandArgs('serve', argv, {
    ...API_SERVER_OPTIONS,
    netns: { type: 'string' },
    mode: { type: 'string' },
    iface: { type: 'string', multiple: true },
    'pid-file': { type: 'string' },
    ...POD_NAME_OPTIONS,
    'metrics-addr': { type: 'string' },
    snaplen: { type: 'string' },
  }, false);
  values.netns = netnsOption(values.netns, 'serve');
  // Case mode unless packet bytes are asked for (--snaplen): they come with every packet's record.
  const mode = (values.mode ?? (values.snaplen !== undefined ? 'packet' : 'case')) as CaptureMode;
  if (mode !== 'packet' && mode !== 'flow' && mode !== 'case') throw new UsageError(`--mode takes packet, flow or case, got '${values.mode}'`);
  const settings = apiSettings(values);
  const podSource = choosePodNameSource(values, values.netns);
  const metricsAddr = values['metrics-addr'] ?? DEFAULT_METRICS_ADDR;
  if (metricsAddr !== 'off') {
    try {
      checkMetricsAddress(metricsAddr, settings.security);
    } catch (err) {
      throw new UsageError(`--metrics-addr: ${(err as Error).message}`);
    }
  }
  const snaplen = values.snaplen === undefined ? undefined : intOption('snaplen', values.snaplen, SNAP_DEFAULT);
  if (snaplen !== undefined && (snaplen < 1 || snaplen > SNAP_MAX)) throw new UsageError(`--snaplen takes 1 to ${SNAP_MAX} bytes, got ${snaplen}`);
  if (snaplen !== undefined && mode !== 'packet') throw new UsageError(`--snaplen gives verdicts their packet bytes, which needs every packet's record (packet mode, what --snaplen picks by default): drop --mode ${mode}`);

  let metrics: ReturnType<typeof metricsFromCollector> | undefined;
  let hub: { stats(): { subscribers: number; lostBySubscribers: number } } | undefined;
  return runNodeSession(
    {
      command: 'serve',
      collector: { netns: values.netns, mode, patterns: values.iface, loaderArgs: snaplen ? ['--snaplen', String(snaplen)] : undefined },
      mode,
      pods: podSource,
      api: settings,
      apiRequired: true,
      pidFile: values['pid-file'],
      snaplen,
      // Bound before anything is judged, so the metrics add up to what Status reports.
      onCollector: (running) => {
        if (metricsAddr === 'off') return;
        metrics = metricsFromCollector(running, {
          node: nodeName(settings, values.netns),
          hubStats: () => hub?.stats() ?? { subscribers: 0, lostBySubscribers: 0 },
        });
      },
      afterStop: async () => metrics?.detach(),
    },
    async (session) => {
      // A failing collector stops the serve: tell health checkers before the API goes.
      session.signal.addEventListener('abort', () => session.publicApi?.api.health.set('', 'NOT_SERVING'), { once: true });
      hub = session.publicApi?.feed.hub;
      let metricsServer: MetricsServer | undefined;
      if (metrics) {
        try {
          metricsServer = await startMetricsServer({
            listen: metricsAddr,
            security: settings.security,
            render: () => metrics!.metrics.text(),
            contentType: metrics.metrics.registry.contentType,
            warn: session.log,
          });
          session.log(`metrics on ${metricsServer.url}`);
        } catch (err) {
          // The default port may be taken by another calitrace on this machine: say so and go on.
          if (values['metrics-addr'] !== undefined) throw new Error(`metrics on ${metricsAddr}: ${(err as Error).message}`);
          session.log(`not serving metrics on ${metricsAddr}: ${(err as Error).message} (give --metrics-addr HOST:PORT, or off)`);
        }
      }
      await new Promise<void>((resolve) => {
        if (session.signal.aborted) resolve();
        else session.signal.addEventListener('abort', () => resolve(), { once: true });
      });
      await metricsServer?.close();
    },
  );
}

export const serveCommand: Command = {
  name: 'serve',
  summary: 'run the tracer and the gRPC API (Observe/Explain/GetRoutes/Status), no UI',
  help: HELP,
  run,
};
