// The relay's building blocks without a network: the merge window (time order across nodes, bounded per
// node, never waiting for a quiet node), the wire scanner and restamp (items forwarded as the node's bytes
// with the relay's seq), and the stitcher's end-to-end judgement of two nodes' halves.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MergeWindow } from '../../src/relay/merge';
import { restamp, splitResponse } from '../../src/relay/wire';
import { encodeBatch } from '../../src/api/server';
import { Stitcher } from '../../src/relay/stitch';
import { calitrace, pb } from '../../src/api/proto';
import { stitchedFromApi } from '../../src/tui/convert';
import { stitchedDiagram } from '../../src/tui/views/detail';

test('merge window: items from several nodes come out in time order once the window has passed over them', () => {
  const m = new MergeWindow<string>({ windowMs: 100, perNodeCapacity: 10 });
  const now = 10_000;
  m.push('a', now - 30, 'a1', now);
  m.push('b', now - 50, 'b1', now); // b's stream arrives later but its item is older
  m.push('a', now - 10, 'a2', now);
  assert.deepEqual(m.release(now + 40), [], 'nothing before the window has passed over the oldest item');
  assert.deepEqual(m.release(now + 75).map((r) => r.value), ['b1', 'a1']);
  assert.deepEqual(m.release(now + 95).map((r) => [r.value, r.waitedMs]), [['a2', 95]]);
});

test('merge window: a full node is refused (the caller counts it) without taking the other nodes\' room, and a future timestamp waits only its window', () => {
  const m = new MergeWindow<number>({ windowMs: 100, perNodeCapacity: 2 });
  assert.equal(m.push('flood', 1, 1, 1000), true);
  assert.equal(m.push('flood', 2, 2, 1000), true);
  assert.equal(m.push('flood', 3, 3, 1000), false);
  assert.equal(m.push('quiet', 4, 4, 1000), true);
  assert.equal(m.queued('flood'), 2);
  // A node whose clock runs an hour ahead: ordered at arrival, released after the window like the rest.
  m.push('skewed', 1000 + 3_600_000, 5, 1000);
  assert.deepEqual(m.release(1100).map((r) => r.value), [1, 2, 4, 5]);
  assert.equal(m.size, 0);
  assert.equal(m.push('flood', 6, 6, 1100), true, 'room again once released');
});

test('wire: a batched response splits into its items, the header fields are read, and restamping sets seq and node_seq', () => {
  const items = [1, 2, 3].map((i) =>
    pb.ObserveResponse.encode({ seq: 40 + i, timeMs: 1_700_000_000_000 + i, node: `node-${i}`, packet: { src: '10.0.0.1', dst: `10.0.0.${i}`, timeNs: 123456789012 } }).finish(),
  );
  const batch = encodeBatch(items);
  const split = splitResponse(batch);
  assert.deepEqual(split.map((s) => [s.seq, s.timeMs, s.node, s.kind]), [
    [41, 1_700_000_000_001, 'node-1', 'packet'], [42, 1_700_000_000_002, 'node-2', 'packet'], [43, 1_700_000_000_003, 'node-3', 'packet'],
  ]);
  const single = splitResponse(Buffer.from(pb.ObserveResponse.encode({ seq: 7, timeMs: 5, node: 'n', lost: { count: 3 } }).finish()));
  assert.deepEqual(single.map((s) => [s.seq, s.kind]), [[7, 'lost']]);
  const stamped = pb.ObserveResponse.decode(restamp(split[1].bytes, 2 ** 40 + 5, split[1].seq));
  assert.equal(Number(stamped.seq), 2 ** 40 + 5);
  assert.equal(Number(stamped.nodeSeq), 42);
  assert.equal(stamped.node, 'node-2');
  assert.equal(stamped.packet!.dst, '10.0.0.2');
  assert.equal(Number(stamped.packet!.timeNs), 123456789012);
});

const V = pb.Verdict;
const D = pb.Direction;
const tunnel = { outerSrc: '172.27.71.11', outerDst: '172.27.71.12', vni: 4096 };
function half(side: 'send' | 'receive', verdict: number, reason: string, t: number): calitrace.v1.IPacketVerdict {
  const hops = side === 'send'
    ? [{ interface: 'caliA', direction: D.INGRESS, timeNs: t }, { interface: 'vxlan.calico', direction: D.EGRESS, timeNs: t + 10_000 }, { interface: 'ens3', direction: D.EGRESS, timeNs: t + 20_000, tunnel }]
    : [{ interface: 'ens3', direction: D.INGRESS, timeNs: t, tunnel }, { interface: 'vxlan.calico', direction: D.INGRESS, timeNs: t + 5_000 },
      verdict === V.DROPPED ? { interface: 'vxlan.calico', direction: D.DROP, timeNs: t + 8_000, dropReason: 'NETFILTER_DROP' } : { interface: 'caliB', direction: D.EGRESS, timeNs: t + 9_000 }];
  return { fingerprint: 'f00d', src: '10.233.101.222', dst: '10.233.100.130', protocol: 17, verdict, reason, observed: hops, timeMs: 1000 };
}

test('stitcher: two halves make one end-to-end path with the node→node time; a drop on the receiver is the whole path\'s verdict', () => {
  const out: calitrace.v1.IStitchedPath[] = [];
  const sameKernel = { bootId: 'b', offsetNs: 0 };
  const s = new Stitcher({ windowMs: 1000, capacity: 10, clockOf: () => sameKernel }, (p) => out.push(p));
  s.offer('node1', half('send', V.MATCHED, 'left via vxlan.calico → ens3', 1_000_000), 0);
  assert.equal(out.length, 0, 'waits for the other half');
  s.offer('node2', half('receive', V.DROPPED, 'netfilter (NETFILTER_DROP) in FORWARD', 1_045_000), 10);
  assert.equal(out.length, 1);
  const p = out[0];
  assert.equal(p.verdict, V.DROPPED);
  assert.equal(p.srcNode, 'node1');
  assert.equal(p.dstNode, 'node2');
  assert.equal(p.nodeToNodeUs, 25); // 1_045_000 − (1_000_000 + 20_000) ns
  assert.equal(p.latencyClock, 'monotonic');
  assert.equal(p.reason, 'left node1 fine (25 µs node1→node2), dropped on node2 by NETFILTER_DROP at vxlan.calico: netfilter (NETFILTER_DROP) in FORWARD');

  // Different kernels: each node's wall-minus-monotonic offset puts the hop times on one axis.
  const clocks: Record<string, { bootId: string; offsetNs: number }> = { node1: { bootId: 'x', offsetNs: 5_000_000 }, node2: { bootId: 'y', offsetNs: 4_900_000 } };
  const out2: calitrace.v1.IStitchedPath[] = [];
  const s2 = new Stitcher({ windowMs: 1000, capacity: 10, clockOf: (n) => clocks[n] }, (q) => out2.push(q));
  s2.offer('node2', half('receive', V.MATCHED, 'delivered', 1_150_000), 0); // the receiver's half may come first
  s2.offer('node1', half('send', V.MATCHED, 'sent', 1_000_000), 1);
  assert.equal(out2[0].latencyClock, 'wall');
  assert.equal(out2[0].nodeToNodeUs, 30); // (1_150_000 + 4_900_000) − (1_020_000 + 5_000_000) ns
  assert.equal(out2[0].verdict, V.MATCHED);
  assert.match(out2[0].reason!, /^left node1 fine \(caliA → vxlan\.calico → ens3\), delivered on node2 \(ens3 → vxlan\.calico → caliB\)/);
});

test('stitcher: a half without its partner within the window is a one-sided story naming the node behind the outer address', () => {
  const out: calitrace.v1.IStitchedPath[] = [];
  const s = new Stitcher({ windowMs: 1000, capacity: 10, clockOf: () => undefined, nodeOfAddress: (ip) => (ip === '172.27.71.12' ? 'node2' : undefined) }, (p) => out.push(p));
  s.offer('node1', half('send', V.MATCHED, 'sent', 1_000_000), 0);
  s.sweep(999);
  assert.equal(out.length, 0);
  s.sweep(1000);
  assert.equal(out.length, 1);
  assert.equal(out[0].verdict, V.INCOMPLETE);
  assert.equal(out[0].halves!.length, 1);
  assert.match(out[0].reason!, /^left node1 fine .*never seen arriving on node2/);
  assert.deepEqual(s.counters(), { stitched: 0, oneSided: 1, evicted: 0, waiting: 0 });
});

test('ui: a stitched path is drawn as one diagram with both nodes, the underlay time and the verdict', () => {
  const out: calitrace.v1.IStitchedPath[] = [];
  const s = new Stitcher({ windowMs: 1000, capacity: 10, clockOf: () => ({ bootId: 'b', offsetNs: 0 }) }, (p) => out.push(p));
  s.offer('node1', half('send', V.MATCHED, 'sent', 1_000_000), 0);
  s.offer('node2', half('receive', V.DROPPED, 'netfilter', 1_045_000), 0);
  const lines = stitchedDiagram(stitchedFromApi(pb.StitchedPath.decode(pb.StitchedPath.encode(out[0]).finish())));
  const text = lines.join('\n').replace(/\{[^}]*\}/g, '');
  assert.match(text, /Whole path\s+DROPPED\s+left node1 fine/);
  assert.match(text, /┌ node1\s+MATCHED[\s\S]*ens3 egress .*VXLAN 172\.27\.71\.11 → 172\.27\.71\.12 vni 4096[\s\S]*║ {2}underlay {2}\+25/);
  assert.match(text, /┌ node2\s+DROPPED[\s\S]*vxlan\.calico drop .*DROPPED \(NETFILTER_DROP\)/);
});
