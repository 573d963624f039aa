// `calitrace relay`: one calitrace API in front of every node's `calitrace serve`. Wiring only: the relay
// lives in src/relay/, node discovery through the Kubernetes API in src/relay/discovery.ts.
import * as os from 'node:os';
import * as fs from 'node:fs';
import { Command, UsageError, intOption, parseCommandArgs } from './command';
import { API_SERVER_HELP, API_SERVER_OPTIONS, apiSettings } from './serve';
import { POD_NAME_OPTIONS, choosePodNameSource } from './pod-names';
import { Relay } from '../relay/relay';
import { startPodDiscovery, Discovery } from '../relay/discovery';
import type { ClientOptions } from '../api/client';

const HELP = `calitrace relay — one calitrace API for the whole cluster: fans in every node's calitrace serve

Usage: calitrace relay (--peer ADDR... | --discover-pods SELECTOR [--discover-namespace NS])
                       [--peer-tls-ca FILE] [--peer-tls-cert FILE --peer-tls-key FILE] [--listen ADDR] ...

Connects to every node's \`calitrace serve\` and serves the same API (calitrace.v1.Calitrace Observe,
Explain, GetRoutes, Status; grpc.health.v1; reflection), so \`calitrace observe\`, \`calitrace ui\` and grpcurl
work against it unchanged:
  - Observe merges the nodes' streams in time order (within --merge-window); every item carries its node.
    Node up/down/reconnect are NODE items, and losses are LOST items naming the node (the node's own, the
    relay's queue for that node: RELAY, what a node sent while disconnected: NODE_DOWN). Never filtered out.
  - --last N / --since / --all count over the WHOLE CLUSTER: \`calitrace observe --last 20\` against a relay
    prints the cluster's 20 newest items, not 20 per node. The relay keeps its own --history.
  - A pod → remote-pod packet seen by both nodes is also sent as one STITCHED item: both halves, the
    end-to-end verdict ('left node1 fine, dropped on node2 by …') and the node→node latency.
  - Explain and GetRoutes take a node (request field node) and are forwarded to it; Status lists every node
    with its state and counters.
  - A slow or dead node never stalls the others: each node has a bounded queue (--node-queue; overflow is
    counted and reported), and a lost node is reconnected with exponential backoff (0.5 s … 30 s).

Nodes:
  --peer ADDR            a node's API: HOST:PORT or unix:/PATH (repeatable)
  --discover-pods SEL    find nodes as the pods matching label selector SEL (deploy/kubernetes/ labels them
                         app.kubernetes.io/name=calitrace-node), watched
                         through the Kubernetes API (list, then watch): added and removed as pods come and go
  --discover-namespace NS  namespace of those pods (default calitrace, as in deploy/kubernetes/)
  --discover-port PORT   the port calitrace serve listens on in those pods (default 4245)
  --kubeconfig FILE, --kube-context NAME   the Kubernetes API for discovery (default: in-cluster, then
                         $KUBECONFIG, ~/.kube/config); needs RBAC list+watch on pods in NS

TLS to the nodes (mutual TLS: the nodes run serve with --tls-client-ca):
  --peer-tls-ca FILE     CA that signed the nodes' server certificates
  --peer-tls-cert FILE   the relay's client certificate (PEM)
  --peer-tls-key FILE    its key
  --peer-tls-server-name NAME  name to verify in the nodes' certificates (when they are not issued for the
                         address dialled, e.g. one certificate 'calitrace-node' for every node)
  --peer-token-file FILE bearer token the nodes require (serve --token-file)

The relay's own API (clients connect here):
${API_SERVER_HELP.replace('node name stamped on every item (default: the lab node\'s name, or the hostname)', 'name of the relay in its own items and Status (default: the hostname)')}
Tuning:
  --merge-window MS      how long an item waits for earlier items from other nodes (default 250); nodes'
                         clocks further apart than this come out of order (NTP keeps them within ~1 ms)
  --node-queue N         items one node may have waiting in the relay (default 20000)
  --stitch-window MS     how long a cross-node half waits for the other node's half (default 3000)
  --node-history N       items asked of each node's history at first connect (default 1000)
  -h, --help             this help

EXAMPLES
  calitrace relay --peer 10.0.0.11:4245 --peer 10.0.0.12:4245 \\
      --peer-tls-ca ca.pem --peer-tls-cert relay.pem --peer-tls-key relay-key.pem
  calitrace relay --discover-pods app.kubernetes.io/name=calitrace-node --discover-namespace calitrace \\
      --peer-tls-ca /tls/ca.crt --peer-tls-cert /tls/tls.crt --peer-tls-key /tls/tls.key \\
      --peer-tls-server-name calitrace-node --listen 0.0.0.0:4245 --tls-cert /tls/tls.crt --tls-key /tls/tls.key
  calitrace observe --server 127.0.0.1:4245 -f type=stitched     # then: every cross-node packet, end to end
  calitrace observe --server 127.0.0.1:4245 -f type=node,lost    # nodes coming and going, losses
`;

const RELAY_OPTIONS = {
  ...API_SERVER_OPTIONS,
  ...POD_NAME_OPTIONS,
  peer: { type: 'string', multiple: true },
  'discover-pods': { type: 'string' },
  'discover-namespace': { type: 'string' },
  'discover-port': { type: 'string' },
  'peer-tls-ca': { type: 'string' },
  'peer-tls-cert': { type: 'string' },
  'peer-tls-key': { type: 'string' },
  'peer-tls-server-name': { type: 'string' },
  'peer-token-file': { type: 'string' },
  'merge-window': { type: 'string' },
  'node-queue': { type: 'string' },
  'stitch-window': { type: 'string' },
  'node-history': { type: 'string' },
} as const;

function readable(file: string | undefined, flag: string): string | undefined {
  if (file === undefined) return undefined;
  try {
    fs.accessSync(file, fs.constants.R_OK);
  } catch (err) {
    throw new UsageError(`cannot read ${flag} '${file}': ${(err as Error).message}`);
  }
  return file;
}

async function run(argv: string[]): Promise<number> {
  const { values } = parseCommandArgs('relay', argv, RELAY_OPTIONS, false);
  const peers = values.peer ?? [];
  const selector = values['discover-pods'];
  if (peers.length === 0 && !selector) {
    throw new UsageError('no nodes: give --peer HOST:PORT (repeatable) or --discover-pods SELECTOR (e.g. app=calitrace)');
  }
  if (!!values['peer-tls-cert'] !== !!values['peer-tls-key']) throw new UsageError('--peer-tls-cert and --peer-tls-key go together');
  const settings = apiSettings(values);
  const peerClient: Omit<ClientOptions, 'server'> = {
    tls: !!(values['peer-tls-ca'] || values['peer-tls-cert'] || values['peer-tls-server-name']),
    caFile: readable(values['peer-tls-ca'], '--peer-tls-ca'),
    certFile: readable(values['peer-tls-cert'], '--peer-tls-cert'),
    keyFile: readable(values['peer-tls-key'], '--peer-tls-key'),
    serverName: values['peer-tls-server-name'],
  };
  if (values['peer-token-file']) {
    const token = fs.readFileSync(readable(values['peer-token-file'], '--peer-token-file')!, 'utf8').trim();
    if (!token) throw new UsageError(`--peer-token-file '${values['peer-token-file']}' is empty`);
    peerClient.token = token;
  }
  const discoverPort = intOption('discover-port', values['discover-port'], 4245);
  const kube = selector ? choosePodNameSource(values, undefined) : undefined;
  if (kube && kube.kind !== 'kubernetes') throw new UsageError(`--discover-pods needs the Kubernetes API: ${kube.description.replace(/^pod names: none \(|\)$/g, '')}`);
  const log = (m: string) => process.stderr.write(`calitrace relay: ${m}\n`);
  const relay = new Relay({
    name: settings.node ?? os.hostname(),
    listen: settings.listen,
    security: settings.security,
    hub: settings.hub,
    peerClient,
    mergeWindowMs: intOption('merge-window', values['merge-window'], 250),
    nodeQueue: Math.max(1, intOption('node-queue', values['node-queue'], 20000)),
    stitchWindowMs: intOption('stitch-window', values['stitch-window'], 3000),
    nodeHistory: intOption('node-history', values['node-history'], 1000),
    backoff: { initialMs: 500, maxMs: 30000 },
    log,
  });
  const api = await relay.start();
  log(`API on ${api.address} (relay ${relay.feed.node}; ${peers.length} static peer${peers.length === 1 ? '' : 's'}${selector ? `, pods '${selector}' in ${values['discover-namespace'] ?? 'calitrace'}` : ''})`);
  for (const p of peers) relay.addNode(p);
  let discovery: Discovery | undefined;
  if (kube && kube.kind === 'kubernetes') {
    log(`discovering nodes: ${kube.description.replace(/^pod names: /, '')}`);
    discovery = startPodDiscovery(kube.connection, {
      namespace: values['discover-namespace'] ?? 'calitrace',
      selector: selector!,
      port: discoverPort,
      add: (address, name) => relay.addNode(address, name),
      remove: (address) => relay.removeNode(address),
      report: log,
    });
  }
  await new Promise<void>((resolve) => {
    process.once('SIGINT', () => resolve());
    process.once('SIGTERM', () => resolve());
  });
  discovery?.stop();
  const nodes = relay.nodes().length;
  await relay.close();
  log(`stopped: ${relay.feed.hub.stats().published} items relayed from ${nodes} node${nodes === 1 ? '' : 's'}`);
  return 0;
}

export const relayCommand: Command = {
  name: 'relay',
  summary: 'one API for the cluster: fan in every node\'s calitrace serve, stitch cross-node packets',
  help: HELP,
  run,
};
