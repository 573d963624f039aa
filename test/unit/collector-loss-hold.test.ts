// A packet that lost part of its records is INCOMPLETE, and says that records were lost around it. The
// loss is known only when the loader reports it (a STATS frame), which can come after the packet's window
// closed: such a packet waits for a report sampled after its window, and a report sampled earlier (still in
// the pipe behind a busy collector) cannot vouch for it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { Collector } from '../../src/collector/collector';
import { predict } from '../../src/routing/predict';
import type { RouteModel } from '../../src/routing/types';
import type { PacketVerdict } from '../../src/path/types';
import { ev, fp, CALI_A } from '../helpers/path-fixtures';
import { node1 } from '../helpers/node1-state';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('an INCOMPLETE packet waits for a STATS frame sampled after its window, then names the loss', async () => {
  let lost = 0;
  const capture = Object.assign(new EventEmitter(), { counters: () => ({ received: 1, lostKernel: lost, lostPipe: 0, loaderRestarts: 0 }) });
  const model = Object.assign(new EventEmitter(), { state: node1(), generation: 1, load: async () => undefined });
  const ingress = ev({ t: 0, iface: CALI_A, fingerprint: fp(), wallMs: Date.now() }); // its egress record never comes
  let clockNs = ingress.timeNs;
  const c = new Collector({ capture: capture as never, model: model as unknown as RouteModel, predict, monotonicNs: () => clockNs, deliveryGraceMs: 0 });
  const verdicts: PacketVerdict[] = [];
  c.on('verdict', (v) => verdicts.push(v));
  try {
    capture.emit('event', ingress);
    clockNs += 500e6; // the 100 ms window is over on the collector's next tick
    for (let i = 0; i < 40 && c.counters().correlatorPending > 0 && verdicts.length === 0; i++) await sleep(25);
    assert.equal(verdicts.length, 0, 'judged with no loss reported yet: held, not published');
    assert.equal(c.counters().correlatorPending, 1, 'a held packet is still pending');
    // The ring lost records; a frame sampled 50 ms after the packet entered (inside its window) arrives first.
    lost = 40;
    capture.emit('stats', { tsNs: ingress.timeNs + 50e6 });
    assert.equal(verdicts.length, 0, 'an older frame does not release it');
    capture.emit('stats', { tsNs: ingress.timeNs + 200e6 });
    assert.equal(verdicts.length, 1);
    assert.equal(verdicts[0].verdict, 'INCOMPLETE');
    assert.match(verdicts[0].reason, /not seen on caliaa479e31ff6/);
    assert.match(verdicts[0].reason, /40 events were lost within a second of this packet/);
    assert.equal(c.counters().correlatorPending, 0);
    assert.equal(c.counters().packets, 1, 'judged once');
    // Another one held when the collector stops: judged then, not dropped.
    const other = ev({ t: 0, iface: CALI_A, fingerprint: fp(), wallMs: Date.now() + 5000, timeNs: clockNs });
    lost = 40; // no new loss around it
    capture.emit('event', other);
    clockNs += 500e6;
    for (let i = 0; i < 40 && c.counters().correlatorPending > 0 && c.counters().packets === 1; i++) await sleep(25);
  } finally {
    c.stop();
  }
  assert.equal(verdicts.length, 2, 'the held packet is judged at stop');
  assert.equal(verdicts[1].verdict, 'INCOMPLETE');
});
