// Calico's naming rules, checked against the seed's real names and against sha1sum(1), not against our code.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { calicoIfName, netNetnsName, nodeNetnsName, podNetnsName, validatePrefix, vxlanMac } from '../../src/lab/naming';
import { randomPrefix } from '../../src/lab';

function sha1sum(text: string): string {
  return execFileSync('sha1sum', { input: text, encoding: 'utf8' }).split(/\s/)[0];
}

test('seed pods get the interface names seen on ems203-w2', () => {
  // From the seed walkthrough: `ip r` on ems203-w2 and `kubectl get pods`.
  assert.equal(calicoIfName('ems', 'edgecloud-suse-adapter-df5d6d78b-m5zc2'), 'cali11299111064');
  assert.equal(calicoIfName('ems', 'ems-a10nsp-accounting-89c69b796-rpb9k'), 'caliaa479e31ff6');
});

test('interface name is "cali" + first 11 hex of sha1("<namespace>.<pod>") and fits IFNAMSIZ', () => {
  for (const [ns, pod] of [['default', 'web-0'], ['kube-system', 'coredns-5d78c9869d-abcde'], ['a', 'b']]) {
    const name = calicoIfName(ns, pod);
    assert.equal(name, 'cali' + sha1sum(`${ns}.${pod}`).slice(0, 11));
    assert.equal(name.length, 15);
  }
  // namespace and pod are joined with a dot, so swapping the parts changes the name
  assert.notEqual(calicoIfName('ems', 'web'), calicoIfName('web', 'ems'));
});

test('vxlan.calico MAC is 66: + first 5 bytes of sha1(node name)', () => {
  // Expected values from `printf ems203-w2 | sha1sum` etc.
  assert.equal(vxlanMac('ems203-w2'), '66:27:39:67:b9:64');
  assert.equal(vxlanMac('ems203-w1'), '66:e2:e9:96:9f:82');
  assert.equal(vxlanMac('ems203-w3'), '66:ae:75:42:69:72');
  const hex = sha1sum('some-other-node');
  assert.equal(vxlanMac('some-other-node'), `66:${hex.slice(0, 2)}:${hex.slice(2, 4)}:${hex.slice(4, 6)}:${hex.slice(6, 8)}:${hex.slice(8, 10)}`);
  // 0x66 has the locally-administered bit set and the multicast bit clear: a valid unicast MAC
  assert.equal(0x66 & 0x02, 0x02);
  assert.equal(0x66 & 0x01, 0);
});

test('namespace names follow the contract <prefix>-node1 / -net / -<ifname>', () => {
  assert.equal(nodeNetnsName('ct', 'node1'), 'ct-node1');
  assert.equal(netNetnsName('ct'), 'ct-net');
  assert.equal(podNetnsName('ct', 'cali11299111064'), 'ct-cali11299111064');
});

test('prefixes: random ones are valid and distinct; bad ones are refused with the rule', () => {
  const seen = new Set<string>();
  for (let i = 0; i < 200; i++) {
    const p = randomPrefix();
    assert.equal(validatePrefix(p), p);
    seen.add(p);
  }
  assert.equal(seen.size, 200);
  for (const bad of ['', 'CT', '1ab', 'a-b', 'abcdefghijklm', 'a/b', 'a b']) {
    assert.throws(() => validatePrefix(bad), /lowercase letters\/digits/);
  }
  assert.equal(validatePrefix('ct'), 'ct');
});
