// The causes calitrace names, on hand-built node states shaped like the lab's node1 (ems203-w2). Expected
// sentences follow from what each state shows (which link is down, which entry is absent), not from running
// the code: each assertion names the evidence the cause must cite.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { predict } from '../../src/routing/predict';
import { WorkloadHistory } from '../../src/routing/history';
import { CauseEvidence, missingWorkloadCause, pendingResolution, podSideFindings, vxlanChain, wrongWorkloadInterface } from '../../src/routing/causes';
import { intentFindings } from '../../src/routing/intent';
import { Correlator, ObservedPacket } from '../../src/path/correlate';
import { judge } from '../../src/path/verdict';
import { CALI_A, CALI_B, NODE1_IP, NODE2_IP, POD_A, POD_B, WEB_0, ev, fib, fp, predictCrossNode } from '../helpers/path-fixtures';
import { POD_B_MAC, POD_B_NAME, VTEP2, node1, node1WithPodRule } from '../helpers/node1-state';

const KNOWN = new Set([NODE1_IP, NODE2_IP]);

test('missing /32: each cause from its own evidence', () => {
  const noRoute = `${POD_B} dev ${CALI_B} scope link`;
  // Nothing knows the address.
  assert.match(missingWorkloadCause('10.233.101.230', { state: node1(), pods: () => undefined }), /^no pod has 10\.233\.101\.230: no cali interface has a neighbour entry for it, no pod in the pod directory/);
  // Interface up, its permanent neighbour entry there, no /32: Felix.
  const up = missingWorkloadCause(POD_B, { state: node1({ drop: [noRoute] }) });
  assert.match(up, /interface caliaa479e31ff6 is up but the \/32 route `10\.233\.101\.224 dev caliaa479e31ff6 scope link` is missing/);
  assert.match(up, /neighbour entry `10\.233\.101\.224 dev caliaa479e31ff6 lladdr 3e:43:f5:d7:c4:88 PERMANENT`/);
  assert.match(up, /check calico-node/);
  // Interface down: neighbour and route flushed; the pod directory + naming rule find the interface.
  const downLinks = node1().links.map((l) => (l.name === CALI_B ? { ...l, up: false, carrier: false } : l));
  const down = missingWorkloadCause(POD_B, { state: node1({ drop: [noRoute], links: downLinks, neigh: [] }), pods: (ip) => (ip === POD_B ? POD_B_NAME : undefined) });
  assert.match(down, /caliaa479e31ff6 is administratively down/);
  assert.match(down, /cali \+ sha1\("ems\.ems-a10nsp-accounting-89c69b796-rpb9k"\)\[:11\]/);
  // The pod exists, its interface does not: CNI.
  const noLink = node1({ drop: [noRoute], links: node1().links.filter((l) => l.name !== CALI_B), neigh: [] });
  assert.match(missingWorkloadCause(POD_B, { state: noLink, pods: () => POD_B_NAME }), /pod ems\/ems-a10nsp-accounting-89c69b796-rpb9k exists but its interface caliaa479e31ff6 is missing.*CNI plugin/);
  // Only the model's history remembers it: the pod is gone.
  const history = new WorkloadHistory();
  history.observe(node1(), 1_795_000_000_000);
  assert.match(missingWorkloadCause(POD_B, { state: noLink, history }), /^no pod has 10\.233\.101\.224 now: its interface caliaa479e31ff6 is gone.*the route model saw `10\.233\.101\.224 dev caliaa479e31ff6 scope link`/);
  // Another node's pod, by the directory.
  assert.match(missingWorkloadCause(POD_B, { state: noLink, nodeName: 'ems203-w2', pods: () => ({ ...POD_B_NAME, node: 'ems203-w1' }) }), /of node ems203-w1, yet it is in this node's IPAM block/);
});

test('a /32 on another pod\'s interface is named, the right one is silent', () => {
  const wrongState = node1({ drop: [`${POD_B} dev ${CALI_B} scope link`], add: [`${POD_B} dev ${CALI_A} scope link`] });
  const p = predict(wrongState, { src: '10.233.100.130', dst: POD_B, iif: 'vxlan.calico' });
  assert.match(wrongWorkloadInterface(p, { state: wrongState }) ?? '', /points at cali11299111064, but 10\.233\.101\.224 belongs to caliaa479e31ff6 \(its permanent neighbour entry is on caliaa479e31ff6/);
  const ok = node1();
  assert.equal(wrongWorkloadInterface(predict(ok, { src: POD_A, dst: POD_B, iif: CALI_A }), { state: ok, pods: () => POD_B_NAME }), undefined);
});

test('VXLAN chain: the first broken link is the cause', () => {
  const q = { src: POD_A, dst: WEB_0, iif: CALI_A };
  const healthy = node1();
  const ok = vxlanChain(predict(healthy, q), { state: healthy, knownNodes: KNOWN })!;
  assert.equal(ok.broken, undefined, JSON.stringify(ok.links));
  assert.deepEqual(ok.links.map((l) => l.what), ['vtep-neighbour', 'fdb', 'underlay-neighbour']);

  const noVtep = node1({ neigh: node1().neighbours.filter((n) => n.dst !== VTEP2) });
  const c1 = vxlanChain(predict(noVtep, q), { state: noVtep }, { resultName: 'no_neigh', iface: 'vxlan.calico', nexthop: VTEP2 })!;
  assert.equal(c1.broken?.what, 'vtep-neighbour');
  assert.match(c1.broken!.text, /kernel's FIB answered no_neigh/);
  assert.deepEqual(c1.resolving, { addr: VTEP2, dev: 'vxlan.calico' });

  const noFdb = node1({ fdbDst: null });
  assert.equal(vxlanChain(predict(noFdb, q), { state: noFdb })!.broken?.what, 'fdb');

  const stranger = node1({ fdbDst: '172.27.71.99' });
  const c3 = vxlanChain(predict(stranger, q), { state: stranger, knownNodes: KNOWN })!;
  assert.equal(c3.broken?.what, 'fdb');
  assert.match(c3.broken!.text, /dst 172\.27\.71\.99 .* not a node calitrace knows \(nodes: 172\.27\.71\.11, 172\.27\.71\.12\)/);
  // Without a list of nodes it cannot say so; the unresolved underlay neighbour is what the packet waits for.
  const c4 = vxlanChain(predict(stranger, q), { state: stranger })!;
  assert.equal(c4.broken, undefined);
  assert.deepEqual(c4.resolving, { addr: '172.27.71.99', dev: 'ens3' });

  const failed = node1({ neigh: [...node1().neighbours.filter((n) => n.dst !== NODE2_IP), { family: 4, dst: NODE2_IP, dev: 'ens3', state: ['FAILED'] }] });
  const c5 = vxlanChain(predict(failed, q), { state: failed, knownNodes: KNOWN })!;
  assert.equal(c5.broken?.what, 'underlay-neighbour');
  assert.match(c5.broken!.text, /172\.27\.71\.12 on ens3 is FAILED/);
  assert.equal(pendingResolution(predict(failed, q), undefined, { state: failed }), 'ARP for 172.27.71.12 on ens3');
});

test('intent: a policy rule, a foreign route that beats Calico\'s, VXLAN settings; a healthy node has none', () => {
  const healthy = node1();
  assert.deepEqual(intentFindings(predict(healthy, { src: POD_A, dst: POD_B, iif: CALI_A }), healthy), []);
  assert.deepEqual(intentFindings(predict(healthy, { src: POD_A, dst: WEB_0, iif: CALI_A }), healthy), []);
  assert.deepEqual(intentFindings(predict(healthy, { src: POD_A, dst: '10.233.101.230', iif: CALI_A }), healthy), []);

  const ruled = node1WithPodRule();
  const [f1] = intentFindings(predict(ruled, { src: POD_A, dst: POD_B, iif: CALI_A }), ruled);
  assert.match(f1, /Calico routes it by `10\.233\.101\.224 dev caliaa479e31ff6 scope link` in the main table \(local-workload\), but the lookup used `default via 172\.27\.71\.254 dev ens3 table 100` \(rule `100: from 10\.233\.101\.222\/?3?2? lookup 100` sent the lookup to table 100\)/);

  const foreign = node1({ add: ['10.233.100.128/28 via 172.27.71.12 dev ens3'] });
  const [f2] = intentFindings(predict(foreign, { src: POD_A, dst: WEB_0, iif: CALI_A }), foreign);
  assert.match(f2, /Calico routes it by `10\.233\.100\.128\/26 via 10\.233\.100\.128 dev vxlan\.calico onlink`.*\(vxlan-tunnel\), but the lookup used `10\.233\.100\.128\/28 via 172\.27\.71\.12 dev ens3`/);

  const vni = node1({ vni: 4097 });
  const [f3] = intentFindings(predict(vni, { src: POD_A, dst: WEB_0, iif: CALI_A }), vni);
  assert.match(f3, /vxlan\.calico uses VNI 4097, not Calico's 4096\/4789/);
});

test('pod side: an eth0 MTU above the cali\'s and a neighbour MAC that is not the pod\'s', () => {
  const s = node1();
  const side = (mtu: number, mac: string) => () => ({ hostIf: 'x', netns: 'pod-ns', name: 'eth0', mtu, mac, up: true });
  const ev: CauseEvidence = { state: s, podSide: side(1500, POD_B_MAC) };
  const p = predict(s, { src: POD_A, dst: POD_B, iif: CALI_A });
  assert.match(podSideFindings(p, CALI_A, ev).join('\n'), /eth0 \(namespace pod-ns\) has MTU 1500, more than cali11299111064's 1450/);
  const stale = podSideFindings(p, CALI_A, { state: s, podSide: side(1450, '02:00:00:00:00:01') });
  assert.equal(stale.length, 1);
  assert.match(stale[0], /does not match the pod's eth0 MAC 02:00:00:00:00:01/);
  assert.deepEqual(podSideFindings(p, CALI_A, { state: s, podSide: side(1450, POD_B_MAC) }), []);
});

test('correlator: a packet waiting on ARP is held, and its late drop joins it as one packet', () => {
  const out: ObservedPacket[] = [];
  const holds: string[] = [];
  const c = new Correlator({
    windowMs: 100,
    predict: () => ({ prediction: predictCrossNode(), generation: 1 }),
    onPacket: (p) => out.push(p),
    awaits: (u) => (u.ingress?.kernel?.resultName === 'no_neigh' ? 'ARP for 10.233.100.128 on vxlan.calico' : undefined),
    onHold: (_f, why) => holds.push(why),
  });
  const f = fp();
  const g = fp();
  c.push(ev({ t: 0, iface: CALI_A, dst: WEB_0, fingerprint: f, kernel: fib('no_neigh', 'vxlan.calico', VTEP2) }));
  c.push(ev({ t: 10, iface: CALI_A, dst: WEB_0, fingerprint: g, kernel: fib('success', 'vxlan.calico', VTEP2) }));
  c.tick(ev({ t: 200_000, iface: CALI_A }).timeNs);
  assert.deepEqual(out.map((p) => p.fingerprint), [g], 'the packet that is not waiting is judged at its window');
  assert.deepEqual(holds, ['ARP for 10.233.100.128 on vxlan.calico']);
  c.push(ev({ t: 3_000_000, iface: 'vxlan.calico', kind: 'drop', dst: WEB_0, fingerprint: f, dropReason: 66, dropReasonName: 'NEIGH_FAILED' }));
  assert.equal(out.length, 2);
  assert.equal(out[1].fingerprint, f);
  assert.equal(out[1].closedBy, 'drop');
  assert.equal(out[1].ingress?.iface, CALI_A, 'the drop joined the packet that entered');
  assert.equal(out[1].pendingOn, 'ARP for 10.233.100.128 on vxlan.calico');
  // A held packet nothing happens to is judged when the resolution time is over.
  const h = fp();
  c.push(ev({ t: 4_000_000, iface: CALI_A, dst: WEB_0, fingerprint: h, kernel: fib('no_neigh', 'vxlan.calico', VTEP2) }));
  c.tick(ev({ t: 5_000_000, iface: CALI_A }).timeNs);
  assert.equal(out.length, 2, 'still held after 1 s');
  c.tick(ev({ t: 7_600_000, iface: CALI_A }).timeNs);
  assert.equal(out.length, 3);
  assert.equal(out[2].closedBy, 'window');
  assert.equal(out[2].pendingOn, 'ARP for 10.233.100.128 on vxlan.calico');
});

test('a drop record alone is not judged as if this node had sent it', () => {
  const s = node1();
  const f = fp();
  const drop = ev({ t: 0, iface: 'vxlan.calico', kind: 'drop', dst: WEB_0, fingerprint: f, dropReason: 66, dropReasonName: 'NEIGH_FAILED' });
  const pred = predict(s, { src: POD_A, dst: WEB_0 });
  const v = judge({ fingerprint: f, events: [drop], drop, predicted: { prediction: pred, generation: 1 }, closedBy: 'drop', windowMs: 100 }, { evidence: () => ({ state: s }) });
  assert.equal(v.verdict, 'INCOMPLETE');
  assert.match(v.reason, /only the kernel's drop record was seen \(NEIGH_FAILED at vxlan\.calico\).*10\.233\.101\.222 is not an address of this node/);
});
