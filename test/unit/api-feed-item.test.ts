// A feed item lets go of what it no longer needs (the domain object once built, the message once
// encoded) without anyone noticing: the bytes are encoded once, a late reader of the message gets the
// same message back from them, and filters keep their subject.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ObserveFeed } from '../../src/api/feed';
import { calitrace } from '../../src/api/proto';
import type { PacketVerdict } from '../../src/path/types';

const v1 = calitrace.v1;
const judged: PacketVerdict = {
  fingerprint: '00000000000000ab', timeMs: 1_790_000_000_123, family: 4, proto: 17, src: '10.233.101.222', dst: '10.233.101.224', sport: 20001, dport: 7001,
  verdict: 'MATCHED', reason: 'forwarded as predicted', warnings: [],
  observed: [{ iface: 'cali11299111064', dir: 'ingress', timeNs: 5 }, { iface: 'caliaa479e31ff6', dir: 'egress', timeNs: 9 }],
  predicted: ['cali11299111064', 'caliaa479e31ff6'], latencyUs: 4, decision: 'unicast', route: '10.233.101.224 dev caliaa479e31ff6 scope link', generation: 3,
  flowKey: 'udp 10.233.101.222:20001 10.233.101.224:7001', len: 60,
};

test('an encoded item: bytes made once, the message read later is the one encoded, the subject stays', () => {
  const feed = new ObserveFeed({ node: 'ems203-w2' });
  feed.verdict(judged);
  feed.verdict({ ...judged, fingerprint: '00000000000000ac', dport: 7002 });
  const sub = feed.hub.subscribe({ follow: false, history: { all: true } });
  const items = [sub.pull(), sub.pull()].map((d) => (d?.kind === 'item' ? d.item : assert.fail('an item')));
  const bytes = feed.encode(items[0]);
  assert.equal(feed.encode(items[0]), bytes, 'encoded once, the same bytes for every subscriber');
  const decoded = v1.ObserveResponse.decode(bytes);
  assert.equal(Number(decoded.seq), items[0].seq);
  assert.equal(decoded.node, 'ems203-w2');
  assert.equal(decoded.verdict!.dport, 7001);
  assert.deepEqual(decoded.verdict!.observed!.map((h) => h.interface), ['cali11299111064', 'caliaa479e31ff6']);
  // Read after encoding: the same message, from the bytes.
  assert.deepEqual(v1.ObserveResponse.toObject(v1.ObserveResponse.fromObject(items[0].value.message)), v1.ObserveResponse.toObject(decoded));
  assert.equal(items[0].value.subject.dport, 7001);
  assert.deepEqual(items[0].value.subject.interfaces, ['cali11299111064', 'caliaa479e31ff6', 'cali11299111064', 'caliaa479e31ff6']);
  // Read before encoding: built from the verdict, then encoded with it.
  assert.equal(items[1].value.message.verdict!.dport, 7002);
  assert.equal(v1.ObserveResponse.decode(feed.encode(items[1])).verdict!.dport, 7002);
});
