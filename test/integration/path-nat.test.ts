// Netfilter NAT on node1, as kube-proxy (a Service address DNATed to a pod) and Calico's natOutgoing
// (masquerade to the outside) do it: the packet changes addresses between our hooks, so its fingerprint
// changes; the NAT fingerprint must follow it, and the translated destination must be what is predicted.
// Case mode (the default of trace/serve/ui) must tell the same story: the kernel chains the translated
// hop to its ingress by the NAT fingerprint, a verdict line comes per new path, and every packet is
// counted into its flow as MATCHED.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { withLab } from '../helpers/lab';
import { mustExec, tcpEcho, withNodeCollector } from '../helpers/path-lab';
import { CALI_A, CALI_B, NODE1_IP, POD_A, POD_B, ROUTER, SERVICE } from '../helpers/path-fixtures';
import type { FlowSummary, PacketVerdict } from '../../src/path/types';
import type { CaptureMode } from '../../src/capture/capture';

for (const mode of ['packet', 'case'] as CaptureMode[]) {
  test(`NAT on the node (${mode} mode): a Service DNAT and a masquerade are followed and MATCHED by the translated route`, { timeout: 120_000 }, async () => {
    await withLab(async (lab) => {
      await mustExec(lab, 'node1', ['sh', '-c', [
        'nft add table ip calitrace_nat',
        "nft add chain ip calitrace_nat pre '{ type nat hook prerouting priority -100; }'",
        `nft add rule ip calitrace_nat pre ip daddr ${SERVICE} meta l4proto icmp dnat to ${POD_B}`,
        `nft add rule ip calitrace_nat pre ip daddr ${SERVICE} tcp dport 80 dnat to ${POD_B}:8080`,
        "nft add chain ip calitrace_nat post '{ type nat hook postrouting priority 100; }'",
        `nft add rule ip calitrace_nat post ip saddr 10.233.101.192/26 ip daddr ${ROUTER} oif ens3 masquerade`,
      ].join(' && ')]);
      await withNodeCollector(lab, async (h) => {
        const judged = (pred: (v: PacketVerdict) => boolean) => h.verdicts.filter(pred);

        // 1. ping the Service address: DNAT to pod B, answered, and un-DNATed on the way back.
        const ping = await mustExec(lab, POD_A, ['ping', '-n', '-c', '2', '-i', '0.2', '-W', '1', SERVICE]);
        assert.match(ping, /2 received/);
        // Packet mode: a line per packet. Case mode: a line for the path's first packet, the second counted with it.
        const lines = mode === 'packet' ? 2 : 1;
        await h.waitUntil(() => judged((v) => v.src === POD_A && v.dst === SERVICE).length >= lines, 10_000, 'verdicts for the pings to the Service');
        for (const v of judged((v) => v.src === POD_A && v.dst === SERVICE)) {
          assert.equal(v.verdict, 'MATCHED', h.dump());
          assert.deepEqual(v.nat, { dst: { from: SERVICE, to: POD_B } });
          assert.deepEqual(v.observed.map((x) => `${x.iface}:${x.dir}`), [`${CALI_A}:ingress`, `${CALI_B}:egress`]);
          assert.deepEqual(v.predicted, [CALI_A, CALI_B], 'predicted by the translated destination');
          assert.equal(v.route, `${POD_B} dev ${CALI_B} scope link`);
          assert.match(v.reason, /^NAT on this node: destination 10\.96\.0\.10 → 10\.233\.101\.224/);
        }
        await h.waitUntil(() => judged((v) => v.src === POD_B && v.dst === POD_A && v.proto === 1).length >= lines, 10_000, 'verdicts for the replies');
        for (const v of judged((v) => v.src === POD_B && v.dst === POD_A && v.proto === 1)) {
          assert.equal(v.verdict, 'MATCHED', h.dump());
          assert.deepEqual(v.nat, { src: { from: POD_B, to: SERVICE } }, 'the reply leaves with the Service address');
        }
        // Every packet counted, both ways, as MATCHED (in case mode from the kernel's counts).
        const pings = () => [...h.flows.values()].find((f) => f.proto === 1 && f.forward.src === POD_A && f.forward.dst === SERVICE);
        await h.waitUntil(() => (pings()?.reverse?.packets ?? 0) >= 2, 10_000, 'both pings and replies counted on the Service flow');
        const pf = pings() as FlowSummary;
        assert.equal(pf.forward.packets, 2, h.dump());
        assert.equal(pf.forward.verdicts.MATCHED, 2);
        assert.equal(pf.reverse!.packets, 2);
        assert.equal(pf.reverse!.verdicts.MATCHED, 2);

        // 2. TCP to the Service port: pod B listens on 8080 and echoes.
        const echoed = await tcpEcho(lab, { server: POD_B, port: 8080, client: POD_A, addr: SERVICE, connectPort: 80, text: 'through the service' });
        assert.match(echoed, /through the service/);
        await h.waitUntil(() => judged((v) => v.src === POD_A && v.dst === SERVICE && v.proto === 6).length >= 3, 10_000, 'verdicts for the TCP connection');
        const syn = judged((v) => v.src === POD_A && v.dst === SERVICE && v.proto === 6 && v.dport === 80)[0];
        assert.equal(syn.verdict, 'MATCHED', h.dump());
        assert.deepEqual(syn.nat?.dst, { from: `${SERVICE}:80`, to: `${POD_B}:8080` });
        // The conversation is one flow, named as the client sees it; pod B's answers are its reverse. (An
        // attempt made before the server listened is a flow of its own, answered by one RST.)
        const answered = () => [...h.flows.values()].find((f) => f.forward.dst === SERVICE && f.proto === 6 && (f.reverse?.packets ?? 0) >= 2);
        await h.waitUntil(() => answered() !== undefined, 10_000, 'the answers counted on the Service flow');
        const conv = answered()!;
        assert.equal(conv.forward.dport, 80);
        assert.equal(conv.reverse!.src, POD_B);
        const answers = judged((v) => v.src === POD_B && v.proto === 6 && v.dport === conv.forward.sport);
        assert.ok(answers.length >= 2 && answers.every((v) => v.flowKey === conv.key), 'every answer joined the Service flow');

        // 3. Masquerade to the underlay router: the source becomes node1's address after routing.
        await mustExec(lab, POD_A, ['ping', '-n', '-c', '1', '-W', '1', ROUTER]);
        const out = await h.waitVerdict((v) => v.src === POD_A && v.dst === ROUTER, 10_000, 'the masqueraded ping');
        assert.equal(out.verdict, 'MATCHED', h.dump());
        assert.deepEqual(out.nat, { src: { from: POD_A, to: NODE1_IP } });
        assert.deepEqual(out.observed.map((x) => `${x.iface}:${x.dir}`), [`${CALI_A}:ingress`, 'ens3:egress']);
        const back = await h.waitVerdict((v) => v.src === ROUTER && v.dst === NODE1_IP, 10_000, 'the reply to the masqueraded ping');
        assert.equal(back.verdict, 'MATCHED', h.dump());
        assert.deepEqual(back.nat, { dst: { from: NODE1_IP, to: POD_A } });
        assert.deepEqual(back.predicted, ['ens3', CALI_A], 'the reply is routed by its translated destination, the pod');

        // Nothing on the node was left unexplained.
        const c = h.rc.collector.counters();
        // Case mode pairs a translated packet in the correlator only when its path is new (its line).
        if (mode === 'packet') assert.ok(c.natPaired >= 2 + 2 + 3 + 2, `every translated packet was paired (${c.natPaired})`);
        else assert.ok(c.natPaired >= 1 + 1 + 3 + 2 && c.caseLines > 0, `every translated path was paired (${c.natPaired}, ${c.caseLines} case lines)`);
        assert.equal(c.caseUnknown, 0);
        assert.equal(c.verdicts.DROPPED + c.verdicts.DIVERGED + c.verdicts.STALE_MODEL + c.verdicts.INCOMPLETE, 0, h.dump());
      }, 'node1', { mode });
    });
  });
}
