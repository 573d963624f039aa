// Malformed packets, crafted by scripts/craft-packets.py and sent through the lab for real (AF_PACKET out
// of a pod's eth0, or UDP to the peer node's VXLAN port): each is reported with the parser's finding for
// what it is, and the tracer neither crashes nor stalls (same loader, no restart, later packets traced).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { labUp, labDown, randomPrefix, LabInfo } from '../../src/lab';
import { packageRoot } from '../../src/util/package-root';
import { withCapture, must, ping, EventLog } from '../helpers/capture-lab';
import type { TraceEvent } from '../../src/capture/event';
import { POD_A as A, POD_B as B, CALI_A as A_IF } from '../helpers/path-fixtures';

const TAG = 4242;
const SCRIPT = path.join(packageRoot(), 'scripts', 'craft-packets.py');

let lab: LabInfo;
before(async () => {
  lab = await labUp({ prefix: randomPrefix() });
});
after(async () => {
  if (lab) await labDown({ prefix: lab.prefix });
});

interface Case {
  kind: string;
  /** Where it is sent from, and the hook where it must be reported. */
  from: string;
  iface: string;
  /** The anomalies of which at least one must be reported. */
  anyOf: string[];
  /** Further facts the record must carry. */
  check?: (ev: TraceEvent) => void;
}

const CASES: Case[] = [
  { kind: 'truncated-ip', from: A, iface: A_IF, anyOf: ['truncated'] },
  {
    kind: 'truncated-tcp', from: A, iface: A_IF, anyOf: ['truncated'],
    check: (e) => {
      assert.equal(e.proto, 6);
      assert.equal(e.src, A, 'the IPv4 header was complete: addresses are reported');
      assert.equal(e.dst, B);
      assert.equal(e.ipId, TAG);
    },
  },
  { kind: 'bad-ihl-short', from: A, iface: A_IF, anyOf: ['bad_ihl'] },
  { kind: 'bad-ihl-long', from: A, iface: A_IF, anyOf: ['truncated', 'bad_ip_len'] },
  {
    kind: 'fragment-first', from: A, iface: A_IF, anyOf: ['fragment'],
    check: (e) => {
      assert.ok(!e.anomalies!.includes('non_first_fragment'));
      assert.equal(e.sport, 40004, 'the first fragment carries the UDP header');
      assert.equal(e.dport, 9000);
    },
  },
  {
    kind: 'fragment-second', from: A, iface: A_IF, anyOf: ['non_first_fragment'],
    check: (e) => {
      assert.ok(e.anomalies!.includes('fragment'));
      assert.equal(e.sport, 0, 'a later fragment has no L4 header: no ports invented');
      assert.equal(e.dport, 0);
      assert.equal(e.ipId, TAG);
    },
  },
  {
    kind: 'ipv6-ext-chain', from: A, iface: A_IF, anyOf: ['ipv6_ext_limit'],
    check: (e) => {
      assert.equal(e.family, 6);
      assert.equal(e.src, 'fd00:10:233::222');
    },
  },
  {
    kind: 'ipv6-fragment', from: A, iface: A_IF, anyOf: ['fragment'],
    check: (e) => {
      assert.equal(e.family, 6);
      assert.equal(e.ipId, TAG, 'the fragment header id');
    },
  },
  // No usable VXLAN header: the record is the outer UDP packet itself, nothing claimed about an inner one.
  ...['vxlan-short', 'vxlan-no-i-flag'].map(
    (kind): Case => ({
      kind, from: 'node2', iface: 'ens3', anyOf: ['bad_vxlan'],
      check: (e) => {
        assert.equal(e.src, '172.27.71.12', 'the record describes the outer UDP packet');
        assert.equal(e.dst, '172.27.71.11');
        assert.equal(e.proto, 17);
        assert.equal(e.dport, 4789);
        assert.equal(e.tunnel, undefined);
      },
    }),
  ),
  // A valid VXLAN header (I flag, VNI 4096) before a broken inner frame: the outer header is reported as
  // the tunnel, and the inner packet only as far as it could be read.
  ...['vxlan-truncated-inner', 'vxlan-inner-garbage'].map(
    (kind): Case => ({
      kind, from: 'node2', iface: 'ens3', anyOf: ['bad_vxlan'],
      check: (e) => {
        const outer = e.tunnel ? { src: e.tunnel.outerSrc, dst: e.tunnel.outerDst, port: e.tunnel.udpDport } : { src: e.src, dst: e.dst, port: e.dport };
        assert.deepEqual(outer, { src: '172.27.71.12', dst: '172.27.71.11', port: 4789 });
        if (e.tunnel) assert.equal(e.tunnel.vni, 4096);
        assert.ok(e.src !== '10.233.101.222' && e.src !== '10.233.100.130', 'no inner pod address is invented');
      },
    }),
  ),
];

async function send(c: Case): Promise<void> {
  const args = c.from === 'node2'
    ? ['python3', SCRIPT, '--kind', c.kind, '--dst', '172.27.71.11', '--tag', String(TAG)]
    : ['python3', SCRIPT, '--kind', c.kind, '--src', A, '--dst', B, '--tag', String(TAG)];
  await must(lab, c.from, args);
}

function anomalous(log: EventLog, from: number, iface: string): TraceEvent | undefined {
  return log.events.slice(from).find((e) => e.iface === iface && e.dir === 'ingress' && e.anomalies && e.anomalies.length > 0);
}

test('each malformed packet is reported as what it is; the tracer keeps going', async () => {
  await withCapture(lab, {}, async (cap, log) => {
    const pid = cap.loaderPid;
    const findings: string[] = [];
    for (const c of CASES) {
      const start = log.events.length;
      await send(c);
      const ev = await log.until(`an anomalous event for ${c.kind} at ${c.iface} ingress`, () => anomalous(log, start, c.iface));
      findings.push(`${c.kind.padEnd(22)} → ${ev.anomalies!.join(',')} (${ev.family ? `${ev.src} > ${ev.dst} proto ${ev.proto}` : 'not IP'}, len ${ev.len})`);
      assert.ok(
        c.anyOf.some((a) => ev.anomalies!.includes(a)),
        `${c.kind}: expected one of ${c.anyOf.join('|')}, got ${ev.anomalies!.join(',')}`,
      );
      try {
        c.check?.(ev);
      } catch (err) {
        (err as Error).message = `${c.kind}: ${(err as Error).message}\nrecord: ${JSON.stringify(ev)}`;
        throw err;
      }
    }
    console.log(`# parser findings:\n${findings.map((f) => `#   ${f}`).join('\n')}`);

    // A burst of everything, many times over, then ordinary traffic: still traced, same loader.
    await Promise.all([
      must(lab, A, ['python3', SCRIPT, '--kind', 'all', '--repeat', '50', '--src', A, '--dst', B, '--tag', String(TAG + 1)]),
      must(lab, 'node2', ['python3', SCRIPT, '--kind', 'bogus-vxlan', '--repeat', '50', '--dst', '172.27.71.11', '--tag', String(TAG + 1)]),
    ]);
    await ping(lab, A, B, 2);
    await log.waitFor('ordinary pings after the malformed burst', (e) => e.src === A && e.dst === B && e.icmpType === 8 && e.iface === 'caliaa479e31ff6' && e.dir === 'egress' && !e.anomalies, 2);
    assert.equal(cap.loaderPid, pid, 'the same loader process is still running');
    assert.equal(cap.counters().loaderRestarts, 0);
    assert.deepEqual(log.errors, []);
    await cap.requestStats();
    const c = cap.counters();
    assert.equal(c.lostKernel, 0);
    assert.equal(c.lostPipe, 0);
  });
});
