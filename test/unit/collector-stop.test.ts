// A stopped collector lets go of its capture and route model: a session restarted over the same model
// must not have the old collector keep judging (or be kept in memory by the emitters).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { Collector } from '../../src/collector/collector';
import { predict } from '../../src/routing/predict';
import type { RouteModel, RoutingState } from '../../src/routing/types';
import { ev, POD_A, POD_B, CALI_A } from '../helpers/path-fixtures';

const EMPTY: RoutingState = {
  links: [], addresses: [], routes: [], rules: [], neighbours: [], fdb: [],
  complete: { rules: true, neighbours: true, fdb: true, links: true },
} as unknown as RoutingState;

test('stop() removes the data listeners it added, keeps the error ones, and ignores later events', () => {
  const capture = Object.assign(new EventEmitter(), { counters: () => ({ received: 0, lostKernel: 0, lostPipe: 0, loaderRestarts: 0 }) });
  const model = Object.assign(new EventEmitter(), { state: EMPTY, generation: 1 });
  const before = (e: EventEmitter, name: string) => e.listenerCount(name);
  const c = new Collector({ capture: capture as never, model: model as unknown as RouteModel, predict });
  for (const name of ['event', 'cases', 'stats', 'error']) assert.equal(before(capture, name), 1, `capture '${name}' listened to`);
  assert.equal(before(model, 'change'), 2);
  let judged = 0;
  c.on('verdict', () => judged++);
  c.stop();
  for (const name of ['event', 'cases', 'stats']) assert.equal(capture.listenerCount(name), 0, `capture '${name}' released`);
  assert.equal(model.listenerCount('change'), 0, 'model changes released');
  // An emitter's 'error' without a listener throws: a loader or model still reporting one while stopping must not crash.
  assert.equal(capture.listenerCount('error'), 1);
  assert.equal(model.listenerCount('error'), 1);
  capture.emit('event', ev({ t: 0, iface: CALI_A, src: POD_A, dst: POD_B }));
  assert.equal(judged, 0, 'nothing judged after stop');
});
