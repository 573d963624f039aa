// Parsing helpers of the lab: CIDR arithmetic, ping summaries, --flow arguments.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cidrContains, ipToInt, parseCidr } from '../../src/lab/naming';
import { parseFlowArg, parsePingSummary } from '../../src/lab/traffic';
import { NODES, resolveNodeId } from '../../src/lab/topology';

test('ipToInt and parseCidr read dotted quads and prefix lengths', () => {
  assert.equal(ipToInt('0.0.0.0'), 0);
  assert.equal(ipToInt('10.233.101.192'), 10 * 2 ** 24 + 233 * 2 ** 16 + 101 * 256 + 192);
  assert.equal(ipToInt('255.255.255.255'), 2 ** 32 - 1);
  assert.deepEqual(parseCidr('10.233.101.192/26'), { base: ipToInt('10.233.101.192'), len: 26 });
  assert.deepEqual(parseCidr('10.233.101.222'), { base: ipToInt('10.233.101.222'), len: 32 });
  for (const bad of ['10.1.1', '10.1.1.256', 'a.b.c.d', '10.1.1.1.1']) assert.throws(() => ipToInt(bad), /not an IPv4 address/);
  assert.throws(() => parseCidr('10.0.0.0/33'), /not an IPv4 CIDR/);
});

test('cidrContains matches the seed blocks the way the kernel would', () => {
  assert.ok(cidrContains('10.233.101.192/26', '10.233.101.222'));
  assert.ok(cidrContains('10.233.101.192/26', '10.233.101.230'));
  assert.ok(cidrContains('10.233.101.192/26', '10.233.101.255'));
  assert.ok(!cidrContains('10.233.101.192/26', '10.233.101.191'));
  assert.ok(!cidrContains('10.233.101.192/26', '10.233.100.130'));
  assert.ok(cidrContains('10.233.100.128/26', '10.233.100.130'));
  assert.ok(cidrContains('0.0.0.0/0', '192.0.2.1'));
  assert.ok(cidrContains('10.233.101.222/32', '10.233.101.222'));
  assert.ok(!cidrContains('10.233.101.222/32', '10.233.101.223'));
});

test('node names resolve from lab ids and Kubernetes names', () => {
  assert.equal(resolveNodeId('node1'), 'node1');
  assert.equal(resolveNodeId('ems203-w2'), 'node1');
  assert.equal(resolveNodeId('ems203-w1'), 'node2');
  assert.equal(resolveNodeId('node3'), undefined);
  assert.equal(NODES.node1.block, '10.233.101.192/26');
});

test('parsePingSummary reads iputils output, including total loss and errors', () => {
  const ok = `--- 10.233.101.224 ping statistics ---
5 packets transmitted, 5 received, 0% packet loss, time 4005ms
rtt min/avg/max/mdev = 0.049/0.080/0.112/0.021 ms`;
  assert.deepEqual(parsePingSummary(ok), { sent: 5, received: 5 });
  const lost = `--- 10.233.101.230 ping statistics ---
3 packets transmitted, 0 received, 100% packet loss, time 2041ms`;
  assert.deepEqual(parsePingSummary(lost), { sent: 3, received: 0 });
  const errs = '4 packets transmitted, 1 received, +3 errors, 75% packet loss, time 3004ms';
  assert.deepEqual(parsePingSummary(errs), { sent: 4, received: 1 });
  assert.equal(parsePingSummary('ping: connect: Network is unreachable'), undefined);
});

test('parseFlowArg reads NAME=KIND:FROM:TO[:PORT] and applies defaults', () => {
  assert.deepEqual(parseFlowArg('web=tcp:10.233.101.222:10.233.100.130:8080', { rate: 50, durationS: 3, size: 100 }), {
    name: 'web', kind: 'tcp', from: '10.233.101.222', to: '10.233.100.130', port: 8080, rate: 50, durationS: 3, size: 100,
  });
  assert.deepEqual(parseFlowArg('p1=ping:node1:10.233.101.224'), { name: 'p1', kind: 'ping', from: 'node1', to: '10.233.101.224' });
  assert.deepEqual(parseFlowArg('u=udp:ems/new-pod-1:10.233.101.224'), { name: 'u', kind: 'udp', from: 'ems/new-pod-1', to: '10.233.101.224' });
  assert.throws(() => parseFlowArg('web=sctp:10.0.0.1:10.0.0.2'), /NAME=KIND:FROM:TO/);
  assert.throws(() => parseFlowArg('10.0.0.1:10.0.0.2'), /NAME=KIND:FROM:TO/);
  assert.throws(() => parseFlowArg('p=ping:10.0.0.1:10.0.0.2:80'), /ping has no port/);
  assert.throws(() => parseFlowArg('t=tcp:10.0.0.1:10.0.0.2:70000'), /port must be 1\.\.65535/);
});
