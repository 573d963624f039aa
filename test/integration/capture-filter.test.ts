// Kernel-side filtering with real traffic: only matching packets produce events, a filter change at run
// time takes effect as soon as the loader acknowledges it, VXLAN packets are filtered on the inner
// header, and the mode switch to flow aggregation works at run time.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { labUp, labDown, randomPrefix, LabInfo } from '../../src/lab';
import { withCapture, ping, pingNoReply, udpSend } from '../helpers/capture-lab';
import { parseFilter } from '../../src/capture/filter';
import type { TraceEvent } from '../../src/capture/event';
import { POD_A as A, POD_B as B, WEB_0 as REMOTE } from '../helpers/path-fixtures';


let lab: LabInfo;
before(async () => {
  lab = await labUp({ prefix: randomPrefix() });
});
after(async () => {
  if (lab) await labDown({ prefix: lab.prefix });
});

const tuple = (e: TraceEvent) => `${e.kind} ${e.iface}/${e.dir} ${e.src}:${e.sport} > ${e.dst}:${e.dport} proto ${e.proto}`;

test('a start-up filter passes only matching packets; a run-time change takes effect once acknowledged', async () => {
  await withCapture(lab, { filter: parseFilter({ src: A, proto: 'icmp' }) }, async (cap, log) => {
    // Non-matching traffic first, then the matching ping: when the ping shows up, the rest had its chance.
    await udpSend(lab, A, B, 41000, 9999); // right source, wrong protocol
    await ping(lab, B, A, 1); // ICMP, wrong source (and its reply has source A but is ICMP from A: matches)
    await ping(lab, A, B, 2);
    await log.waitFor('A→B echo requests at B egress', (e) => e.src === A && e.dst === B && e.icmpType === 8 && e.iface === 'caliaa479e31ff6', 2);
    await cap.requestStats();
    const phase1 = log.events.splice(0);
    const wrong = phase1.filter((e) => !(e.src === A && e.proto === 1));
    assert.deepEqual(wrong.map(tuple), [], 'no event for packets the filter excludes');
    assert.ok(phase1.some((e) => e.src === A && e.dst === B && e.icmpType === 0 && e.iface === 'caliaa479e31ff6'), "B's echo reply to A's ping is excluded by src, A's reply to B is included");
    const stats = cap.loaderStats()!;
    assert.ok(stats.pktsSeen > stats.pktsMatched, `the hooks saw ${stats.pktsSeen} packets and passed ${stats.pktsMatched}`);

    // Change at run time: UDP to port 9999 with destination A.
    await cap.setFilter(parseFilter({ dst: `${A}/32`, proto: 'udp', port: '9999' }));
    await ping(lab, A, B, 1); // now excluded
    await udpSend(lab, A, B, 41001, 9999); // excluded: destination B
    await udpSend(lab, B, A, 41002, 9998); // excluded: port
    await udpSend(lab, B, A, 41003, 9999); // the one match
    await log.waitFor('B→A UDP 9999 at A egress', (e) => e.proto === 17 && e.dport === 9999 && e.iface === 'cali11299111064' && e.dir === 'egress');
    await cap.requestStats();
    const phase2 = log.events.splice(0);
    assert.deepEqual(phase2.filter((e) => !(e.dst === A && e.proto === 17 && (e.sport === 9999 || e.dport === 9999))).map(tuple), []);
    assert.deepEqual([...new Set(phase2.map((e) => `${e.iface}/${e.dir}`))].sort(), ['caliaa479e31ff6/ingress', 'cali11299111064/egress'].sort());
    assert.ok(phase2.every((e) => e.sport === 41003));

    // A filter the loader refuses is an error with its reason, and the previous filter stays in force.
    await assert.rejects(cap.setFilter({ port: 70000 }), /the loader refused 'filter port 70000'/);
    await udpSend(lab, B, A, 41004, 9999);
    await log.waitFor('the old filter still passing B→A UDP 9999', (e) => e.sport === 41004 && e.iface === 'cali11299111064' && e.dir === 'egress');
  });
});

test('a CIDR filter applies to the inner packet of VXLAN traffic; clearing the filter traces everything again', async () => {
  await withCapture(lab, { filter: parseFilter({ dst: '10.233.100.128/26' }) }, async (cap, log) => {
    await ping(lab, A, B, 1); // excluded
    await ping(lab, A, REMOTE, 1);
    const wire = await log.waitFor('the echo to node2 on ens3', (e) => e.iface === 'ens3' && e.dir === 'egress' && e.dst === REMOTE);
    assert.equal(wire[0].tunnel?.outerDst, '172.27.71.12', 'matched on the inner destination, outer header decoded');
    await cap.requestStats();
    const phase1 = log.events.splice(0);
    assert.deepEqual(phase1.filter((e) => !e.dst.startsWith('10.233.100.')).map(tuple), []);

    await cap.setFilter({});
    await ping(lab, A, B, 1);
    await log.waitFor('A→B traced again', (e) => e.src === A && e.dst === B && e.iface === 'caliaa479e31ff6' && e.dir === 'egress');
  });
});

test('switching to flow mode at run time: first packet per hop, then periodic per-flow counters', async () => {
  await withCapture(lab, { filter: parseFilter({ src: A, dst: B, proto: 'icmp' }), loaderArgs: ['--flush-ms', '200'] }, async (cap, log) => {
    await cap.setMode('flow');
    await ping(lab, A, B, 5);
    const flows = await log.until('flow records adding up to 5 echo requests at B egress', () => {
      const f = log.where((e) => e.kind === 'flow' && e.iface === 'caliaa479e31ff6' && e.dir === 'egress' && e.src === A);
      return f.reduce((n, e) => n + (e.packets ?? 0), 0) >= 5 ? f : undefined;
    });
    assert.equal(flows.reduce((n, e) => n + (e.packets ?? 0), 0), 5);
    console.log(`# flow records at caliaa479e31ff6 egress: ${flows.map((e) => `${e.packets} pkts/${e.bytes} B icmp id ${e.icmpId}`).join(', ')}`);
    assert.ok(flows.every((e) => (e.bytes ?? 0) >= (e.packets ?? 0) * 98));
    const packets = log.where((e) => e.kind === 'packet' && e.iface === 'caliaa479e31ff6' && e.dir === 'egress');
    assert.equal(packets.length, 1, 'in flow mode only the first packet of the flow is reported per hop');

    await cap.setMode('packet');
    await pingNoReply(lab, A, B, 2);
    await log.waitFor('per-packet events again', (e) => e.kind === 'packet' && e.iface === 'caliaa479e31ff6' && e.dir === 'egress', 3);
  });
});
