// Case mode: every drop has its own record and verdict line. A drop whose earlier hops were only counted
// is its case's hops replayed in front of its drop record, so the collector judges one such drop of a
// case in full and gives the next ones that verdict with their own identity (fingerprint, times, ICMP
// sequence). What they get must be exactly what judging each in full gives.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { Collector } from '../../src/collector/collector';
import { predict } from '../../src/routing/predict';
import type { TraceEvent } from '../../src/capture/event';
import type { RouteModel } from '../../src/routing/types';
import type { PacketVerdict } from '../../src/path/types';
import { ev, fib, fp, CALI_A, NO_POD } from '../helpers/path-fixtures';
import { node1 } from '../helpers/node1-state';

const ROOT = '0000000000000000';
const IN = '00000000000000a1'; // ingress on cali A towards the IPAM block's blackhole
const DROP = '00000000000000d1'; // dropped there

function collector(): { c: Collector; capture: EventEmitter; verdicts: PacketVerdict[]; judged: { verdict: PacketVerdict; events: TraceEvent[] }[] } {
  const capture = Object.assign(new EventEmitter(), { counters: () => ({ received: 0, lostKernel: 0, lostPipe: 0, loaderRestarts: 0 }) });
  const model = Object.assign(new EventEmitter(), { state: node1(), generation: 1, load: async () => undefined });
  const c = new Collector({ capture: capture as never, model: model as unknown as RouteModel, predict, monotonicNs: () => 0 });
  const verdicts: PacketVerdict[] = [];
  const judged: { verdict: PacketVerdict; events: TraceEvent[] }[] = [];
  c.on('verdict', (v) => verdicts.push(v));
  c.on('judged', (j) => judged.push(j));
  return { c, capture, verdicts, judged };
}

/** The records of a case's first packet: its ingress and its drop, both shipped. */
function firstPacket(): TraceEvent[] {
  const f = fp();
  return [
    ev({ t: 0, iface: CALI_A, dst: NO_POD, fingerprint: f, kernel: fib('blackhole'), caseId: IN, prevCase: ROOT, epoch: 1 }),
    ev({ t: 9, iface: CALI_A, dst: NO_POD, kind: 'drop', dropReason: 2, dropReasonName: 'NOT_SPECIFIED', fingerprint: f, caseId: DROP, prevCase: IN, epoch: 1 }),
  ];
}

/** A later packet of the case: only its drop record (its ingress was counted). */
function laterDrop(t: number, seq: number): TraceEvent {
  return ev({ t, iface: CALI_A, dst: NO_POD, kind: 'drop', dropReason: 2, dropReasonName: 'NOT_SPECIFIED', fingerprint: fp(), caseId: DROP, prevCase: IN, epoch: 2, icmpSeq: seq, ipId: 1000 + seq });
}

test("a drop given its case's verdict gets exactly what judging it in full gives, with its own identity", () => {
  const first = firstPacket();
  const drops = [laterDrop(1000, 2), laterDrop(2500, 3), laterDrop(7000, 4)];
  // x: the first later drop is judged in full, the next ones from it; y: the last one is judged in full.
  const x = collector();
  const y = collector();
  try {
    for (const e of [...first, ...drops]) x.capture.emit('event', e);
    for (const e of [...first, drops[2]]) y.capture.emit('event', e);
  } finally {
    x.c.stop();
    y.c.stop();
  }
  assert.equal(x.verdicts.length, 4, 'a verdict line per drop');
  assert.deepEqual(x.verdicts.map((v) => v.verdict), ['EXPECTED_DROP', 'EXPECTED_DROP', 'EXPECTED_DROP', 'EXPECTED_DROP']);
  assert.deepEqual(x.c.counters().verdicts.EXPECTED_DROP, 4);
  assert.deepEqual(x.verdicts[3], y.verdicts[1], 'the same verdict as a full judgment');
  assert.deepEqual(x.judged[3].events, y.judged[1].events, 'the same replayed hops for a listener that wants them');
  // Each has its own identity.
  x.verdicts.slice(1).forEach((v, i) => {
    assert.equal(v.fingerprint, drops[i].fingerprint);
    assert.equal(v.timeMs, drops[i].wallMs);
    assert.equal(v.icmp?.seq, drops[i].icmpSeq);
    assert.equal(v.observed[v.observed.length - 1].timeNs, drops[i].timeNs, 'the drop hop at its own time');
    assert.ok(v.observed[0].timeNs < drops[i].timeNs, 'its replayed ingress just before it');
  });
  assert.equal(new Set(x.verdicts.map((v) => v.observed)).size, 4, 'no two verdicts share their hops');
  assert.equal(x.c.flows().length, 1);
  assert.equal(x.c.flows()[0].forward.packets, 4);
});

test('a drop of a case whose hops were shipped with it (its packet is open) is judged in full', () => {
  const x = collector();
  try {
    for (const e of [...firstPacket(), laterDrop(1000, 2)]) x.capture.emit('event', e);
    // Another packet of the flow whose ingress was shipped (e.g. the kernel forgot the case) and then died.
    const f = fp();
    x.capture.emit('event', ev({ t: 3000, iface: CALI_A, dst: NO_POD, fingerprint: f, kernel: fib('blackhole'), caseId: IN, prevCase: ROOT, epoch: 3, icmpSeq: 5 }));
    x.capture.emit('event', ev({ t: 3040, iface: CALI_A, dst: NO_POD, kind: 'drop', dropReason: 2, dropReasonName: 'NOT_SPECIFIED', fingerprint: f, caseId: DROP, prevCase: IN, epoch: 3, icmpSeq: 5 }));
  } finally {
    x.c.stop();
  }
  assert.equal(x.verdicts.length, 3);
  const last = x.verdicts[2];
  assert.equal(last.verdict, 'EXPECTED_DROP');
  assert.equal(last.observed[1].timeNs - last.observed[0].timeNs, 40_000, 'its own ingress record, 40 µs before its drop, not a replayed one');
});
