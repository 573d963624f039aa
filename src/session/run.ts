// One node session, as `serve`, `trace --no-ui` and `trace` with the UI run it: start the collector,
// the pod names and the API(s); let the command do its part; end on a signal, a fatal error, the
// command's own end (--count, the UI closed) or --duration; stop in order (APIs, pod names, collector);
// print the one loss line. Every way out goes through the same stop.
import * as fs from 'node:fs';
import { startCollector, RunningCollector, StartCollectorOptions } from '../collector/start';
import { onCollectorError } from '../collector/collector';
import { startPodNames, PodNameSource } from '../pods/source';
import type { PodDirectory } from '../pods/directory';
import { ApiSettings, ServingApi, serveCollector } from './api';
import { lossLine } from './loss';

export interface NodeSessionOptions {
  /** The command's name, which starts every line on stderr ('serve' → "calitrace serve: …"). */
  command: string;
  collector: StartCollectorOptions;
  /** Capture mode as the API's Status reports it. */
  mode: string;
  /** Where pod names come from (for the APIs); none when undefined. */
  pods?: PodNameSource;
  /** The public API; undefined: none is served. */
  api?: ApiSettings;
  /** serve: an API that cannot start is the session's failure. trace: a warning, the trace goes on. */
  apiRequired?: boolean;
  /** A second, private API (the UI's own socket, whatever TLS or token the public one asks for). */
  privateApi?: ApiSettings;
  /** End after this many seconds (0 or undefined: no limit). */
  durationS?: number;
  /** Written with this process's id once the session serves, removed when it ends. */
  pidFile?: string;
  /** Non-fatal collector warnings (default: the log). The UI keeps them off its screen. */
  warn?: (message: string) => void;
  /** Lines on stderr (default: "calitrace <command>: …"). */
  log?: (message: string) => void;
  /** Words in front of the loss line ("12 printed"). */
  summary?: () => string;
  /** Bytes of each packet the capture copies (verdicts on the API carry them); none when undefined. */
  snaplen?: number;
  /** Called as soon as the collector runs, before anything is judged (e.g. metrics that must add up). */
  onCollector?: (running: RunningCollector) => void;
  /** Called once the collector has stopped (everything judged), before the loss line. */
  afterStop?: (log: (message: string) => void) => Promise<void>;
}

export interface NodeSession {
  running: RunningCollector;
  publicApi?: ServingApi;
  privateApi?: ServingApi;
  /** Pod names, when the session has a source for them (for printed lines; the APIs have them already). */
  pods?: PodDirectory;
  /** Aborted when the session is ending, whatever the reason. */
  signal: AbortSignal;
  /** Ends the session (the command is done). */
  end(): void;
  log(message: string): void;
}

/** Runs the session; `body` starts the command's part and may return a promise the session waits for. */
export async function runNodeSession(o: NodeSessionOptions, body: (s: NodeSession) => void | Promise<void>): Promise<number> {
  const log = o.log ?? ((m: string) => process.stderr.write(`calitrace ${o.command}: ${m}\n`));
  let running: RunningCollector;
  try {
    running = await startCollector(o.collector);
  } catch (err) {
    log((err as Error).message);
    return 1;
  }
  o.onCollector?.(running);
  const ending = new AbortController();
  const end = () => ending.abort();
  let failure: Error | undefined;
  onCollectorError(running.collector, {
    warn: o.warn ?? log,
    fatal: (err) => {
      failure ??= err;
      end();
    },
  });
  // Installed before anything else can take long, so a signal at any point stops in order.
  const signals = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
  for (const s of signals) process.on(s, end);
  let timer: NodeJS.Timeout | undefined;
  if (o.durationS) timer = setTimeout(end, o.durationS * 1000);

  if (o.pods) log(o.pods.description);
  log(describeTraced(running.traced, o.collector.netns));
  const pods = o.pods ? startPodNames(o.pods, log) : undefined;
  // The API's directory is also evidence for the causes verdicts name (a lab node has its lab's already).
  if (pods && o.pods?.kind === 'kubernetes') running.collector.useCluster({ pods: pods.directory, knownNodes: pods.knownNodes });
  const ctx = { netns: o.collector.netns, mode: o.mode, pods: pods?.directory, snaplen: o.snaplen, podNames: o.pods?.description };
  const apis: ServingApi[] = [];
  let publicApi: ServingApi | undefined;
  let privateApi: ServingApi | undefined;
  let pidWritten = false;
  try {
    if (o.api) {
      try {
        publicApi = await serveCollector(running, o.api, ctx);
        apis.push(publicApi);
        const where = o.collector.netns ? `netns ${o.collector.netns}` : 'this namespace';
        log(`API on ${publicApi.api.address} (node ${publicApi.feed.node}, ${where}, ${o.mode} mode; calitrace observe --server ${publicApi.api.address})`);
      } catch (err) {
        if (o.apiRequired) throw err;
        log(`not serving the API: ${(err as Error).message} (use --listen ADDR, or --no-api)`);
      }
    }
    if (o.privateApi) {
      privateApi = await serveCollector(running, o.privateApi, ctx);
      apis.push(privateApi);
    }
    if (o.pidFile) {
      fs.writeFileSync(o.pidFile, `${process.pid}\n`);
      pidWritten = true;
    }
    const session: NodeSession = { running, pods: pods?.directory, publicApi, privateApi, signal: ending.signal, end, log };
    const done = body(session);
    const ended = new Promise<void>((resolve) => {
      if (ending.signal.aborted) resolve();
      else ending.signal.addEventListener('abort', () => resolve(), { once: true });
    });
    if (done) {
      // The command's part ends the session too; on a signal it is told (signal) and waited for, so a
      // UI gives the terminal back before the last lines are printed.
      await Promise.race([done.then(end, (err: Error) => {
        failure ??= err;
        end();
      }), ended]);
      await done.catch(() => undefined);
    } else {
      await ended;
    }
  } catch (err) {
    failure ??= err as Error;
  } finally {
    if (timer) clearTimeout(timer);
    for (const s of signals) process.off(s, end);
    for (const api of apis) await api.close();
    pods?.stop();
    await running.stop();
    if (pidWritten) fs.rmSync(o.pidFile!, { force: true });
  }
  if (o.afterStop) await o.afterStop(log).catch((err: Error) => (failure ??= err));
  const lostBySubscribers = apis.reduce((n, a) => n + a.feed.hub.stats().lostBySubscribers, 0);
  const summary = o.summary ? `${o.summary()}; ` : '';
  log(`stopped: ${summary}${lossLine(running.collector.counters(), lostBySubscribers)}`);
  if (failure) {
    log(failure.message);
    return 1;
  }
  return 0;
}

/**
 * Which interfaces carry a hook. None is said loudly: run in the wrong namespace (a container's, a test
 * machine's own) the trace would otherwise wait in silence for packets that never cross it.
 */
export function describeTraced(traced: ReadonlySet<string>, netns: string | undefined): string {
  const names = [...traced].sort();
  if (names.length === 0) {
    return (
      `no interface to trace in ${netns ? `netns ${netns}` : 'this namespace'} yet (no cali*, vxlan.calico or uplink): ` +
      `nothing will be judged until one appears. Is this the Calico node's namespace? Give --netns NAME, or --iface PATTERN`
    );
  }
  const shown = names.length > 8 ? `${names.slice(0, 8).join(', ')} and ${names.length - 8} more` : names.join(', ');
  return `tracing ${names.length} interface${names.length === 1 ? '' : 's'}: ${shown}`;
}
