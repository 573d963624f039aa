// What the live model tells subscribers: object-level differences between two states.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { diffStates } from '../../src/routing/model';
import { parsePastedRoutes } from '../../src/routing/paste';

test('diffStates names added, removed and changed routes', () => {
  const a = parsePastedRoutes('blackhole 10.233.101.192/26 proto 80\n10.233.101.222 dev cali11299111064 scope link\n10.1.0.0/16 via 10.0.0.1 dev ens3\n').state;
  const b = parsePastedRoutes('blackhole 10.233.101.192/26 proto 80\n10.233.101.230 dev cali0123456789a scope link\n10.1.0.0/16 via 10.0.0.2 dev ens3\n').state;
  const routeChanges = diffStates(a, b)
    .filter((c) => c.kind === 'route')
    .map((c) => `${c.action} ${c.text}`)
    .sort();
  assert.deepEqual(routeChanges, [
    'added 10.233.101.230 dev cali0123456789a scope link',
    'changed 10.1.0.0/16 via 10.0.0.2 dev ens3',
    'removed 10.233.101.222 dev cali11299111064 scope link',
  ]);
  assert.deepEqual(diffStates(a, a), []);
});
