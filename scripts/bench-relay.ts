// Benchmark: the relay with many nodes. N simulated nodes — each a real calitrace API server (the node's
// own hub, feed and gRPC plumbing) publishing packet items at a fixed rate — run in one process on
// loopback; the relay (src/relay, as `calitrace relay` runs it) in a second; a subscriber in this one.
// Printed: items/s published by the nodes, merged by the relay and delivered to the subscriber; losses;
// the merge-window wait p50/p99 (inside the relay) and publish → subscriber latency p50/p99 (each item
// carries process.hrtime at publish in Packet.time_ns: CLOCK_MONOTONIC, shared by the processes); relay
// RSS and CPU per item; bytes per item on the wire (node → relay and relay → subscriber).
//
//   node dist/scripts/bench-relay.js [--nodes 50] [--rate 200] [--seconds 15] [--merge-window 250]
import { spawn, ChildProcess } from 'node:child_process';
import * as os from 'node:os';
import * as readline from 'node:readline';
import { parseArgs } from 'node:util';
import * as grpc from '@grpc/grpc-js';
import { ObserveFeed } from '../src/api/feed';
import { startApiServer, VERSION } from '../src/api/server';
import { calitrace, pb } from '../src/api/proto';
import { Relay } from '../src/relay/relay';
import { splitResponse } from '../src/relay/wire';
import type { TraceEvent } from '../src/capture/event';

const nowNs = () => Number(process.hrtime.bigint());

function event(i: number, node: number): TraceEvent {
  return {
    kind: 'packet', timeNs: nowNs(), wallMs: Date.now(), ifindex: 7, iface: 'cali11299111064', dir: 'ingress', len: 98, family: 4, proto: 6,
    src: `10.233.${100 + (node % 100)}.${2 + (i % 60)}`, dst: '10.233.101.224', sport: 30000 + (i % 30000), dport: 8080, tcpFlags: 0x18, icmpType: 0, icmpCode: 0,
    icmpId: 0, icmpSeq: 0, ipId: i & 0xffff, ttl: 64, mark: 0, fingerprint: (0x1234567800000000 + i).toString(16).padStart(16, '0'), natFingerprint: i + 1,
  };
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))];
}

/** Lines of JSON from a child, as they come. */
function lines(child: ChildProcess, on: (o: Record<string, unknown>) => void): void {
  readline.createInterface({ input: child.stdout! }).on('line', (l) => {
    try {
      on(JSON.parse(l));
    } catch {
      process.stderr.write(`${l}\n`);
    }
  });
}

// ---------------------------------------------------------------------------------------------------
// Role 'nodes': N API servers, each publishing `rate` items/s in 10 ms ticks.

async function nodes(n: number, rate: number): Promise<void> {
  const backend = { version: VERSION, mode: () => 'packet', interfaces: () => [], counters: () => ({}) };
  const feeds: ObserveFeed[] = [];
  const addresses: string[] = [];
  for (let i = 0; i < n; i++) {
    const feed = new ObserveFeed({ node: `sim-node-${String(i).padStart(3, '0')}`, hub: { historyCapacity: 1000, queueCapacity: 8192, maxSubscribers: 8 } });
    const api = await startApiServer({ listen: '127.0.0.1:0', feed, backend, warn: () => undefined });
    feeds.push(feed);
    addresses.push(api.address);
  }
  process.stdout.write(JSON.stringify({ addresses }) + '\n');
  let publishing = false;
  let published = 0;
  let i = 0;
  const perTick = rate / 100;
  let carry = 0;
  setInterval(() => {
    if (!publishing) return;
    carry += perTick;
    const k = Math.floor(carry);
    carry -= k;
    for (let f = 0; f < feeds.length; f++) for (let j = 0; j < k; j++) feeds[f].packet(event(i++, f));
    published += k * feeds.length;
  }, 10);
  readline.createInterface({ input: process.stdin }).on('line', (l) => {
    if (l === 'start') publishing = true;
    if (l === 'stop') {
      publishing = false;
      const lost = feeds.reduce((s, f) => s + f.hub.stats().lostBySubscribers, 0);
      process.stdout.write(JSON.stringify({ published, lostAtNodes: lost }) + '\n');
    }
    if (l === 'exit') process.exit(0);
  });
}

// ---------------------------------------------------------------------------------------------------
// Role 'relay': the relay on a loopback port, following the nodes; reports on 'stop'.

async function relayRole(listen: string, peers: string[], windowMs: number): Promise<void> {
  const rssBefore = process.memoryUsage().rss;
  const relay = new Relay({
    name: 'bench-relay', listen, security: {}, hub: { maxSubscribers: 8, historyCapacity: 10000, queueCapacity: 8192 },
    peerClient: {}, mergeWindowMs: windowMs, nodeQueue: 20000, stitchWindowMs: 3000, nodeHistory: 0, backoff: { initialMs: 500, maxMs: 30000 },
  });
  const api = await relay.start();
  for (const p of peers) relay.addNode(p);
  const upAll = setInterval(() => {
    if (relay.nodes().every((u) => u.state === 'UP')) {
      clearInterval(upAll);
      process.stdout.write(JSON.stringify({ address: api.address, rssIdleMb: process.memoryUsage().rss / 2 ** 20, rssBeforeMb: rssBefore / 2 ** 20 }) + '\n');
    }
  }, 50);
  let cpu0 = process.cpuUsage();
  let published0 = 0;
  let peakRss = 0;
  const sampler = setInterval(() => (peakRss = Math.max(peakRss, process.memoryUsage().rss)), 200);
  readline.createInterface({ input: process.stdin }).on('line', (l) => {
    if (l === 'start') {
      cpu0 = process.cpuUsage();
      published0 = relay.feed.hub.stats().published;
      relay.waits.length = 0;
      relay.recordWaits = true;
      peakRss = 0;
    }
    if (l === 'stop') {
      relay.recordWaits = false;
      const cpu = process.cpuUsage(cpu0);
      const waits = relay.waits.slice().sort((a, b) => a - b);
      const lostRelay = relay.nodes().reduce((s, u) => s + u.lostUpstream, 0);
      const status = relay.feed.hub.stats();
      process.stdout.write(JSON.stringify({
        merged: status.published - published0, cpuS: (cpu.user + cpu.system) / 1e6, waitP50: percentile(waits, 50), waitP99: percentile(waits, 99),
        rssMb: process.memoryUsage().rss / 2 ** 20, peakRssMb: peakRss / 2 ** 20, lostNoticesFromNodes: lostRelay, lostBySubscribers: status.lostBySubscribers,
        received: relay.nodes().reduce((s, u) => s + u.received, 0),
      }) + '\n');
    }
    if (l === 'exit') {
      clearInterval(sampler);
      void relay.close().then(() => process.exit(0));
    }
  });
}

// ---------------------------------------------------------------------------------------------------
// Main: orchestrates, and subscribes to the relay with a raw stream (counts bytes exactly).

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { role: { type: 'string' }, nodes: { type: 'string' }, rate: { type: 'string' }, seconds: { type: 'string' },
    'merge-window': { type: 'string' }, listen: { type: 'string' }, peers: { type: 'string' } } });
  const n = Number(values.nodes ?? 50);
  const rate = Number(values.rate ?? 200);
  const seconds = Number(values.seconds ?? 15);
  const windowMs = Number(values['merge-window'] ?? 250);
  if (values.role === 'nodes') return nodes(n, rate);
  if (values.role === 'relay') return relayRole(values.listen!, values.peers!.split(','), windowMs);

  process.stdout.write(`bench-relay: ${n} nodes × ${rate} items/s = ${n * rate} items/s offered, ${seconds} s, merge window ${windowMs} ms\n`);
  process.stdout.write(`load: ${os.loadavg().map((l) => l.toFixed(2)).join(' ')} (${os.cpus().length} CPUs)\n`);
  const self = process.argv[1];
  const nodeProc = spawn(process.execPath, [self, '--role', 'nodes', '--nodes', String(n), '--rate', String(rate)], { stdio: ['pipe', 'pipe', 'inherit'] });
  const fromNodes: Record<string, unknown>[] = [];
  lines(nodeProc, (o) => fromNodes.push(o));
  const until = async (pred: () => boolean, what: string) => {
    const end = Date.now() + 60000;
    while (!pred()) {
      if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  };
  await until(() => fromNodes.length > 0, 'the simulated nodes');
  const addresses = fromNodes[0].addresses as string[];
  const relayProc = spawn(process.execPath, [self, '--role', 'relay', '--listen', '127.0.0.1:0', '--peers', addresses.join(','), '--merge-window', String(windowMs)], { stdio: ['pipe', 'pipe', 'inherit'] });
  const fromRelay: Record<string, unknown>[] = [];
  lines(relayProc, (o) => fromRelay.push(o));
  await until(() => fromRelay.length > 0, 'the relay to connect to every node');
  const relayAddress = fromRelay[0].address as string;

  // Node → relay bytes per item: what one node's raw stream carries (the relay asks for batches of 256).
  const raw = new grpc.Client(relayAddress, grpc.credentials.createInsecure());
  let delivered = 0;
  let bytesIn = 0;
  let lostNotices = 0;
  let measuring = false;
  const latUs: number[] = [];
  const call = raw.makeServerStreamRequest<calitrace.v1.IObserveRequest, Buffer>('/calitrace.v1.Calitrace/Observe',
    (r) => Buffer.from(pb.ObserveRequest.encode(r).finish()), (b) => b, { follow: true, batch: 256 }, new grpc.Metadata(), {});
  call.on('data', (b: Buffer) => {
    if (!measuring) return;
    const items = splitResponse(b);
    bytesIn += b.length;
    for (const it of items) {
      if (it.kind === 'lost') lostNotices++;
      if (it.kind !== 'packet') continue;
      delivered++;
      // Sampled: decode one item in 16 for its publish time.
      if ((delivered & 15) === 0) latUs.push((nowNs() - Number(pb.ObserveResponse.decode(it.bytes).packet!.timeNs)) / 1000);
    }
  });
  call.on('error', () => undefined);

  const warm = 2000;
  nodeProc.stdin!.write('start\n');
  await new Promise((r) => setTimeout(r, warm));
  relayProc.stdin!.write('start\n');
  measuring = true;
  const t0 = Date.now();
  await new Promise((r) => setTimeout(r, seconds * 1000));
  measuring = false;
  const elapsed = (Date.now() - t0) / 1000;
  relayProc.stdin!.write('stop\n');
  nodeProc.stdin!.write('stop\n');
  await until(() => fromRelay.length > 1 && fromNodes.length > 1, 'the reports');
  const r = fromRelay[1] as Record<string, number>;
  const nd = fromNodes[1] as Record<string, number>;
  latUs.sort((a, b) => a - b);
  const item = pb.ObserveResponse.encode({ seq: 123456, timeMs: Date.now(), node: 'sim-node-042', packet: { kind: 'packet', timeNs: nowNs(), timeMs: Date.now(), ifindex: 7, interface: 'cali11299111064',
    direction: 1, length: 98, family: 4, protocol: 6, src: '10.233.142.17', dst: '10.233.101.224', sport: 41234, dport: 8080, tcpFlags: 0x18, ipId: 4242, ttl: 64, fingerprint: '1234567800001234' } }).finish();
  const fmt = (x: number, d = 0) => (Number.isFinite(x) ? x.toFixed(d) : 'n/a');
  process.stdout.write(
    [
      `offered          ${n * rate} items/s (${n} nodes × ${rate}); published by the nodes over the whole run: ${nd.published} (${nd.lostAtNodes} lost at the nodes' subscriber queues)`,
      `merged (relay)   ${fmt(r.merged / elapsed)} items/s`,
      `delivered        ${fmt(delivered / elapsed)} items/s to one subscriber (batch 256); lost notices seen: ${lostNotices}; relay subscriber losses: ${r.lostBySubscribers}`,
      `merge wait       p50 ${fmt(r.waitP50)} ms, p99 ${fmt(r.waitP99)} ms (window ${windowMs} ms + ${20} ms tick)`,
      `publish→deliver  p50 ${fmt(percentile(latUs, 50) / 1000, 1)} ms, p99 ${fmt(percentile(latUs, 99) / 1000, 1)} ms (${latUs.length} samples)`,
      `relay CPU        ${fmt(r.cpuS, 2)} s for ${r.merged} items = ${fmt((r.cpuS * 1e6) / Math.max(1, r.merged), 1)} µs/item (${fmt((r.cpuS / elapsed) * 100)} % of a core)`,
      `relay RSS        ${fmt(r.rssMb)} MiB at the end, peak ${fmt(r.peakRssMb)} MiB; ${fmt((fromRelay[0] as Record<string, number>).rssIdleMb)} MiB connected and idle (${fmt((fromRelay[0] as Record<string, number>).rssBeforeMb)} MiB before any node)`,
      `bytes/item       ${fmt(bytesIn / Math.max(1, delivered), 1)} B relay → subscriber (batched, with seq/node_seq restamp); one packet item encoded alone: ${item.length} B`,
      `load             ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}`,
    ].join('\n') + '\n',
  );
  call.cancel();
  raw.close();
  relayProc.stdin!.write('exit\n');
  nodeProc.stdin!.write('exit\n');
  await Promise.all([new Promise((res) => relayProc.on('exit', res)), new Promise((res) => nodeProc.on('exit', res))]);
}

main().catch((err) => {
  process.stderr.write(`bench-relay: ${(err as Error).stack}\n`);
  process.exit(1);
});
