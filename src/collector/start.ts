// Starts the real chain for one node: the route model (live, from netlink) and the capture (the BPF
// loader), then the collector on top. Used by `calitrace trace --no-ui`, `calitrace serve` and the
// integration tests.
import { startCapture, Capture, CaptureMode } from '../capture/capture';
import type { FilterSpec } from '../capture/filter';
import type { Hello } from '../capture/decode';
import { createRouteModel } from '../routing/model';
import { predict } from '../routing/predict';
import type { RouteModel } from '../routing/types';
import { PeerReader } from '../routing/peers';
import { labEvidenceFor } from '../lab/evidence';
import { Collector, CollectorOptions } from './collector';

export interface StartCollectorOptions
  extends Omit<CollectorOptions, 'capture' | 'model' | 'predict' | 'isTraced'> {
  /** Network namespace of the node (/var/run/netns/NAME); the current one when absent. */
  netns?: string;
  patterns?: string[];
  filter?: FilterSpec;
  mode?: CaptureMode;
  loaderArgs?: string[];
  /** Another build of bpf/.output/calitrace-loader (benchmarks compare two builds in one run). */
  loaderPath?: string;
  /** How long to wait for the loader's HELLO and first attachments. Default 10 s. */
  readyTimeoutMs?: number;
}

export interface RunningCollector {
  collector: Collector;
  capture: Capture;
  model: RouteModel;
  hello: Hello;
  /** Interfaces with a hook attached right now. */
  traced: ReadonlySet<string>;
  /** The pod ends of the cali veths (polled from the pods' namespaces). */
  peers: PeerReader;
  /** Judges what is open, stops the loader and the model. Safe to call twice. */
  stop(): Promise<void>;
}

export async function startCollector(opts: StartCollectorOptions = {}): Promise<RunningCollector> {
  const model = createRouteModel({ netns: opts.netns });
  await model.start();
  const traced = new Set<string>();
  const capture = startCapture({
    netns: opts.netns,
    patterns: opts.patterns,
    filter: opts.filter,
    mode: opts.mode ?? 'packet',
    loaderArgs: opts.loaderArgs,
    loaderPath: opts.loaderPath,
  });
  capture.on('link', (l: { name: string; state: string }) => {
    if (l.state === 'attached') traced.add(l.name);
    else traced.delete(l.name);
  });
  const peers = new PeerReader(opts.netns);
  peers.start(() => model.state);
  // On a lab node the lab's pods and nodes are the evidence; elsewhere the CLI hands over the Kubernetes
  // pod directory once it runs (collector.usePods).
  const lab = opts.pods ? undefined : labEvidenceFor(opts.netns);
  const collector = new Collector({
    podSide: (i) => peers.get(i),
    ...(lab ? { pods: lab.pods, nodeName: lab.nodeName, knownNodes: lab.knownNodes } : {}),
    ...opts,
    capture,
    model,
    predict,
    isTraced: (iface) => traced.has(iface),
  });
  let stopped = false;
  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    peers.stop();
    await capture.stop().catch(() => undefined);
    collector.stop();
    await model.stop();
  };
  let hello: Hello;
  try {
    hello = await withTimeout(capture.ready(), opts.readyTimeoutMs ?? 10_000, 'the BPF loader did not say hello');
  } catch (err) {
    await stop();
    throw err;
  }
  return { collector, capture, model, hello, traced, peers, stop };
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`${what} within ${ms} ms: run as root, build with npm run build, see CALITRACE_LOADER_STDERR=1`)), ms);
    p.then(
      (v) => {
        clearTimeout(t);
        resolve(v);
      },
      (e) => {
        clearTimeout(t);
        reject(e);
      },
    );
  });
}
