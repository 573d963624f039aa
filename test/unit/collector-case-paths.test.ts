// Case mode: the packets counted into a path get the verdict of that path's chain of cases. When a case's
// first packet shipped the whole chain (every case learnt from its own records), the collector takes that
// packet's verdict as the path's instead of replaying the chain and judging it again: what the counted
// packets get must be exactly what the replayed chain gives.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { Collector } from '../../src/collector/collector';
import { predict } from '../../src/routing/predict';
import type { TraceEvent } from '../../src/capture/event';
import type { RouteModel } from '../../src/routing/types';
import type { PacketVerdict } from '../../src/path/types';
import { ev, fib, fp, CALI_A, CALI_B } from '../helpers/path-fixtures';
import { node1 } from '../helpers/node1-state';

const ROOT = '0000000000000000';
const IN = '00000000000000a1'; // ingress on cali A towards pod B
const OUT = '00000000000000b1'; // egress on cali B

function collector(): { c: Collector; capture: EventEmitter; counted: { verdict: PacketVerdict; packets: number }[] } {
  const capture = Object.assign(new EventEmitter(), { counters: () => ({ received: 0, lostKernel: 0, lostPipe: 0, loaderRestarts: 0 }) });
  const model = Object.assign(new EventEmitter(), { state: node1(), generation: 1, load: async () => undefined });
  const c = new Collector({ capture: capture as never, model: model as unknown as RouteModel, predict, monotonicNs: () => 0, deliveryGraceMs: 0 });
  const counted: { verdict: PacketVerdict; packets: number }[] = [];
  c.on('counted', (x) => counted.push(x));
  return { c, capture, counted };
}

const ingress = (f: string): TraceEvent => ev({ t: 0, iface: CALI_A, fingerprint: f, kernel: fib('success', CALI_B), caseId: IN, prevCase: ROOT, epoch: 1 });
const egress = (f: string): TraceEvent => ev({ t: 20, iface: CALI_B, dir: 'egress', fingerprint: f, caseId: OUT, prevCase: IN, epoch: 1 });

test("a path's counted packets get the same verdict whether its first packet's or its replayed chain's", () => {
  // x: the first packet ships both cases. y: the ingress case was taught by another packet (same time,
  // its egress record lost), so the path's chain is not one packet's records and is replayed and judged.
  const x = collector();
  const y = collector();
  try {
    const f = fp();
    x.capture.emit('event', ingress(f));
    x.capture.emit('event', egress(f));
    y.capture.emit('event', ingress(fp()));
    (y.c as unknown as { correlator: { tick(n: number): void } }).correlator.tick(Number.MAX_SAFE_INTEGER);
    y.capture.emit('event', ingress(f));
    y.capture.emit('event', egress(f));
    for (const k of [x, y]) k.capture.emit('cases', { epoch: 1, last: true, entries: [{ caseId: IN, packets: 50, bytes: 4900 }, { caseId: OUT, packets: 50, bytes: 4900 }] });
  } finally {
    x.c.stop();
    y.c.stop();
  }
  assert.equal(x.counted.length, 1);
  assert.equal(x.counted[0].packets, 50);
  assert.equal(x.counted[0].verdict.verdict, 'MATCHED');
  const path = (k: typeof x) => k.counted.find((n) => n.packets === 50)!.verdict;
  const [vx, vy] = [path(x), path(y)];
  assert.ok(vy, 'y counted the path too');
  assert.equal(vx.fingerprint, OUT, "the path's verdict carries its case, not its first packet's fingerprint");
  assert.deepEqual({ ...vx, timeMs: 0 }, { ...vy, timeMs: 0 }, 'the same verdict as the replayed chain');
});
