// Real packets through the lab, traced on node1 by the real loader: pod→pod on the same node (ping, TCP,
// UDP), pod→pod across nodes through VXLAN, and a blackholed destination.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { labUp, labDown, randomPrefix, LabInfo } from '../../src/lab';
import { withCapture, ping, pingNoReply, udpSend, tcpExchange, EventLog } from '../helpers/capture-lab';
import type { TraceEvent } from '../../src/capture/event';
import { POD_A as A, POD_B as B, WEB_0 as REMOTE, NO_POD as HOLE, CALI_A as A_IF, CALI_B as B_IF } from '../helpers/path-fixtures';


let lab: LabInfo;
before(async () => {
  lab = await labUp({ prefix: randomPrefix() });
});
after(async () => {
  if (lab) await labDown({ prefix: lab.prefix });
});

/** The same packet at A's ingress and B's egress: one fingerprint, tuple intact, time moves forward. */
function assertSameNodeHops(log: EventLog, pick: (ev: TraceEvent) => boolean, what: string): { ingress: TraceEvent; egress: TraceEvent } {
  const ingress = log.where((e) => e.kind === 'packet' && e.iface === A_IF && e.dir === 'ingress' && pick(e));
  assert.ok(ingress.length > 0, `${what}: no event at ${A_IF} ingress`);
  const first = ingress[0];
  const egress = log.where((e) => e.kind === 'packet' && e.iface === B_IF && e.dir === 'egress' && e.fingerprint === first.fingerprint);
  assert.equal(egress.length, 1, `${what}: exactly one event at ${B_IF} egress with fingerprint ${first.fingerprint}`);
  const out = egress[0];
  for (const k of ['src', 'dst', 'proto', 'sport', 'dport', 'icmpId', 'icmpSeq', 'ipId'] as const) {
    assert.equal(out[k], first[k], `${what}: ${k} is the same at both hops`);
  }
  assert.ok(out.timeNs > first.timeNs, `${what}: egress (${out.timeNs}) after ingress (${first.timeNs})`);
  assert.ok(out.ttl === first.ttl - 1, `${what}: forwarding decremented the TTL (${first.ttl} → ${out.ttl})`);
  assert.ok(first.kernel, `${what}: ingress carries the kernel's FIB view`);
  assert.equal(first.kernel!.resultName, 'success');
  assert.equal(first.kernel!.iface, B_IF, `${what}: the FIB at ingress chose ${B_IF}`);
  assert.equal(out.kernel, undefined, `${what}: no FIB lookup at egress`);
  return { ingress: first, egress: out };
}

test('ping .222 → .224: cali11299111064 ingress and caliaa479e31ff6 egress, same fingerprint, kernel view names caliaa479e31ff6', async () => {
  await withCapture(lab, {}, async (_cap, log) => {
    await ping(lab, A, B, 3);
    const isEcho = (e: TraceEvent) => e.proto === 1 && e.src === A && e.dst === B && e.icmpType === 8;
    await log.waitFor('3 echo requests at caliaa479e31ff6 egress', (e) => isEcho(e) && e.iface === B_IF && e.dir === 'egress', 3);
    const requests = log.where((e) => isEcho(e) && e.iface === A_IF && e.dir === 'ingress');
    assert.equal(requests.length, 3);
    assert.deepEqual(requests.map((e) => e.icmpSeq), [1, 2, 3]);
    assert.equal(new Set(requests.map((e) => e.fingerprint)).size, 3, 'each packet has its own fingerprint');
    for (const seq of [1, 2, 3]) assertSameNodeHops(log, (e) => isEcho(e) && e.icmpSeq === seq, `echo seq ${seq}`);
    // The reply takes the mirror path.
    const reply = await log.waitFor('echo reply at cali11299111064 egress', (e) => e.proto === 1 && e.src === B && e.icmpType === 0 && e.iface === A_IF && e.dir === 'egress');
    assert.equal(reply[0].dst, A);
  });
});

test('TCP .222:40111 → .224:8080: SYN and data at both hops with the same fingerprints', async () => {
  await withCapture(lab, {}, async (_cap, log) => {
    await tcpExchange(lab, A, B, 40111, 8080);
    const isFlow = (e: TraceEvent) => e.proto === 6 && e.src === A && e.dst === B && e.sport === 40111 && e.dport === 8080;
    // SYN, ACK, PSH+ACK (data), ACK, FIN… at least 4 client packets reach B's egress.
    await log.waitFor('client packets at caliaa479e31ff6 egress', (e) => isFlow(e) && e.iface === B_IF && e.dir === 'egress', 4);
    const { ingress } = assertSameNodeHops(log, (e) => isFlow(e) && e.tcpFlags === 0x02, 'TCP SYN');
    assert.equal(ingress.tcpFlags, 0x02);
    assertSameNodeHops(log, (e) => isFlow(e) && (e.tcpFlags & 0x08) !== 0, 'TCP data (PSH)');
    const ins = log.where((e) => isFlow(e) && e.iface === A_IF && e.dir === 'ingress');
    const outs = log.where((e) => isFlow(e) && e.iface === B_IF && e.dir === 'egress');
    assert.deepEqual(outs.map((e) => e.fingerprint), ins.slice(0, outs.length).map((e) => e.fingerprint), 'every client packet keeps its fingerprint');
  });
});

test('UDP .222:40222 → .224:9999: one datagram, both hops, same fingerprint and ports', async () => {
  await withCapture(lab, {}, async (_cap, log) => {
    await udpSend(lab, A, B, 40222, 9999, 'hello-udp');
    const isDgram = (e: TraceEvent) => e.proto === 17 && e.src === A && e.dst === B && e.sport === 40222 && e.dport === 9999;
    await log.waitFor('the datagram at caliaa479e31ff6 egress', (e) => isDgram(e) && e.iface === B_IF && e.dir === 'egress');
    const { ingress } = assertSameNodeHops(log, isDgram, 'UDP');
    assert.equal(ingress.len, 20 + 8 + 'hello-udp'.length + 14, 'skb->len at tc ingress includes the Ethernet header');
  });
});

test('cross-node: vxlan.calico egress, then ens3 egress with VXLAN decoded (VNI 4096, 172.27.71.11 → .12), one fingerprint', async () => {
  await withCapture(lab, {}, async (_cap, log) => {
    await ping(lab, A, REMOTE, 2);
    const isEcho = (e: TraceEvent) => e.proto === 1 && e.src === A && e.dst === REMOTE && e.icmpType === 8;
    const onWire = await log.waitFor('echo requests at ens3 egress', (e) => isEcho(e) && e.iface === 'ens3' && e.dir === 'egress', 2);
    for (const wire of onWire) {
      const fp = wire.fingerprint;
      const hops = log.where((e) => e.fingerprint === fp && e.kind === 'packet');
      const at = (iface: string, dir: string) => hops.filter((e) => e.iface === iface && e.dir === dir);
      assert.equal(at(A_IF, 'ingress').length, 1, `seq ${wire.icmpSeq}: seen entering at ${A_IF}`);
      assert.equal(at('vxlan.calico', 'egress').length, 1, `seq ${wire.icmpSeq}: seen leaving through vxlan.calico`);
      const ingress = at(A_IF, 'ingress')[0];
      const vx = at('vxlan.calico', 'egress')[0];
      assert.equal(vx.tunnel, undefined, 'vxlan.calico egress still carries the inner packet only');
      assert.deepEqual(
        { ...wire.tunnel, udpSport: 0 },
        { outerSrc: '172.27.71.11', outerDst: '172.27.71.12', vni: 4096, udpSport: 0, udpDport: 4789 },
      );
      assert.ok(wire.tunnel!.udpSport > 0, 'the outer UDP source port is the flow hash');
      assert.equal(wire.src, A, 'addresses are the inner packet');
      assert.equal(wire.dst, REMOTE);
      assert.equal(wire.icmpSeq, ingress.icmpSeq);
      assert.ok(wire.len >= ingress.len + 50, 'the uplink packet is larger by the VXLAN overhead');
      assert.ok(ingress.timeNs < vx.timeNs && vx.timeNs < wire.timeNs, 'cali ingress → vxlan.calico → ens3, in time order');
      assert.equal(ingress.kernel?.iface, 'vxlan.calico');
      assert.equal(ingress.kernel?.nexthop, '10.233.100.128', "the FIB's next hop is node2's VTEP");
    }
    // The reply arrives encapsulated on ens3 and is decapsulated: same fingerprint on vxlan.calico ingress.
    const replies = await log.waitFor('echo reply at ens3 ingress', (e) => e.proto === 1 && e.src === REMOTE && e.icmpType === 0 && e.iface === 'ens3' && e.dir === 'ingress');
    assert.equal(replies[0].tunnel?.outerSrc, '172.27.71.12');
    assert.equal(replies[0].tunnel?.vni, 4096);
    await log.waitFor('the same reply at vxlan.calico ingress', (e) => e.fingerprint === replies[0].fingerprint && e.iface === 'vxlan.calico' && e.dir === 'ingress');
  });
});

test('.222 → .230 (no pod, in the block): kernel view blackhole, then a drop event with the kernel reason', async () => {
  await withCapture(lab, {}, async (cap, log) => {
    const hello = await cap.ready();
    await pingNoReply(lab, A, HOLE, 1);
    const drops = await log.waitFor('a drop of the echo to .230', (e) => e.kind === 'drop' && e.dst === HOLE);
    const drop = drops[0];
    const ingress = log.where((e) => e.kind === 'packet' && e.dst === HOLE && e.iface === A_IF && e.dir === 'ingress');
    assert.equal(ingress.length, 1);
    assert.equal(ingress[0].kernel?.resultName, 'blackhole');
    assert.equal(drop.fingerprint, ingress[0].fingerprint, 'the dropped packet is the one seen at ingress');
    assert.ok(drop.timeNs >= ingress[0].timeNs);
    assert.equal(typeof drop.dropReason, 'number');
    // The name is the running kernel's (from BTF via HELLO), not ours.
    assert.equal(drop.dropReasonName, hello.dropReasons.get(drop.dropReason!));
    assert.ok(hello.dropReasons.size > 10, `the kernel's BTF gave ${hello.dropReasons.size} drop reasons`);
    console.log(`# drop of ${A} → ${HOLE} at ${drop.iface}: reason ${drop.dropReason} ${drop.dropReasonName}; kernel view ${ingress[0].kernel?.resultName}`);
  });
});
