// What a session says about the interfaces it hooked: silence in the wrong namespace is the failure to avoid.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { describeTraced } from '../../src/session/run';

test('no traced interface: says nothing will be judged and how to point the trace at the node', () => {
  const m = describeTraced(new Set(), undefined);
  assert.match(m, /^no interface to trace in this namespace/);
  assert.match(m, /nothing will be judged/);
  assert.match(m, /--netns NAME/);
  assert.match(describeTraced(new Set(), 'ct-node1'), /in netns ct-node1 /);
});

test('traced interfaces are named, sorted, and cut after eight with the rest counted', () => {
  assert.equal(describeTraced(new Set(['vxlan.calico', 'cali2', 'cali1']), 'n'), 'tracing 3 interfaces: cali1, cali2, vxlan.calico');
  assert.equal(describeTraced(new Set(['eth0']), 'n'), 'tracing 1 interface: eth0');
  const ten = new Set(Array.from({ length: 10 }, (_, i) => `cali${i}`));
  assert.equal(describeTraced(ten, 'n'), 'tracing 10 interfaces: cali0, cali1, cali2, cali3, cali4, cali5, cali6, cali7 and 2 more');
});
