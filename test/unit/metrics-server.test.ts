// The /metrics listener's policy with a real HTTP(S) client: plain on loopback, HTTPS with client
// certificates when --tls-client-ca is given, the bearer token, and what it answers besides /metrics.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as https from 'node:https';
import * as fs from 'node:fs';
import { startMetricsServer, checkMetricsAddress } from '../../src/metrics/server';
import { NodeMetrics } from '../../src/metrics/metrics';
import type { CollectorCounters } from '../../src/collector/types';
import { makeTestCerts } from '../helpers/certs';

function counters(over: Partial<CollectorCounters> = {}): CollectorCounters {
  return {
    received: 0, lostKernel: 0, lostPipe: 0, loaderRestarts: 0, packets: 0,
    verdicts: { MATCHED: 0, DIVERGED: 0, DROPPED: 0, EXPECTED_DROP: 0, INCOMPLETE: 0, STALE_MODEL: 0 },
    correlatorEvictions: 0, correlatorPending: 0, dropsAfterEgress: 0, natPaired: 0, flowRecords: 0, flowsActive: 0,
    flowEvictions: 0, flowsExpired: 0, predictErrors: 0, modelGeneration: 1, caseLines: 0, caseUnknown: 0, cases: 0, ...over,
  };
}

function metrics(c: () => CollectorCounters): NodeMetrics {
  return new NodeMetrics({
    node: 'n1', processMetrics: false,
    sources: { counters: c, attached: () => ['cali1', 'vxlan.calico', 'ens3', 'lo9'], isUplink: (i) => i === 'ens3', subscribers: () => ({ connected: 2, lost: 5 }) },
  });
}

test('loopback: plain HTTP; a token is required when one is set; 404 elsewhere', async () => {
  let c = counters({ lostKernel: 3, caseUnknown: 7 });
  const m = metrics(() => c);
  const s = await startMetricsServer({ listen: '127.0.0.1:0', security: { token: 's3cret' }, render: () => m.text(), contentType: m.registry.contentType });
  try {
    assert.equal((await fetch(`http://${s.address}/metrics`)).status, 401);
    assert.equal((await fetch(`http://${s.address}/metrics`, { headers: { authorization: 'Bearer wrong' } })).status, 401);
    const ok = await fetch(`http://${s.address}/metrics`, { headers: { authorization: 'Bearer s3cret' } });
    assert.equal(ok.status, 200);
    const text = await ok.text();
    assert.match(text, /^calitrace_lost_events_total\{source="kernel",node="n1"\} 3$/m);
    assert.match(text, /^calitrace_lost_events_total\{source="subscriber",node="n1"\} 5$/m);
    assert.match(text, /^calitrace_subscribers\{node="n1"\} 2$/m);
    // Packets counted but never judged (case mode, first record lost) are visible, not folded into a verdict.
    assert.match(text, /^calitrace_packets_unjudged_total\{node="n1"\} 7$/m);
    assert.match(text, /^calitrace_attached_interfaces\{hook_kind="workload",node="n1"\} 1$/m);
    assert.match(text, /^calitrace_attached_interfaces\{hook_kind="uplink",node="n1"\} 1$/m);
    assert.match(text, /^calitrace_attached_interfaces\{hook_kind="other",node="n1"\} 1$/m);
    // A running total that grows: the counter grows by the difference, never goes back.
    c = counters({ lostKernel: 10 });
    const again = await (await fetch(`http://${s.address}/metrics`, { headers: { authorization: 'Bearer s3cret' } })).text();
    assert.match(again, /^calitrace_lost_events_total\{source="kernel",node="n1"\} 10$/m);
    assert.equal((await fetch(`http://${s.address}/other`, { headers: { authorization: 'Bearer s3cret' } })).status, 404);
  } finally {
    await s.close();
  }
});

test('verdicts are counted by verdict, protocol and family; hops by kind and direction', async () => {
  const m = metrics(() => counters());
  const hop = (iface: string, dir: 'ingress' | 'egress' | 'drop', timeNs: number) => ({ iface, dir, timeNs });
  m.verdict({ verdict: 'MATCHED', proto: 1, family: 4, warnings: [], observed: [hop('cali1', 'ingress', 1000), hop('vxlan.calico', 'egress', 31000), hop('ens3', 'egress', 41000)], latencyUs: 40 } as never);
  m.verdict({ verdict: 'DROPPED', proto: 132, family: 6, warnings: ['MTU_EXCEEDED'], observed: [hop('cali1', 'ingress', 0), hop('', 'drop', 5000)] } as never);
  const text = await m.text();
  assert.match(text, /^calitrace_packets_judged_total\{verdict="MATCHED",protocol="icmp",family="ipv4",node="n1"\} 1$/m);
  assert.match(text, /^calitrace_packets_judged_total\{verdict="DROPPED",protocol="other",family="ipv6",node="n1"\} 1$/m);
  assert.match(text, /^calitrace_packet_warnings_total\{warning="MTU_EXCEEDED",node="n1"\} 1$/m);
  assert.match(text, /^calitrace_hop_latency_seconds_sum\{node="n1",hook_kind="vxlan",direction="egress"\} 0\.00003$/m);
  assert.match(text, /^calitrace_hop_latency_seconds_bucket\{le="0\.00005",node="n1",hook_kind="uplink",direction="egress"\} 1$/m);
  assert.match(text, /^calitrace_hop_latency_seconds_count\{node="n1",hook_kind="other",direction="drop"\} 1$/m);
  assert.match(text, /^calitrace_node_transit_seconds_count\{node="n1"\} 1$/m);
});

test('non-loopback: HTTPS with a client certificate required by --tls-client-ca', async () => {
  const certs = makeTestCerts();
  const m = metrics(() => counters());
  const security = { tls: { certFile: certs.serverCert, keyFile: certs.serverKey, clientCaFile: certs.clientCa } };
  assert.throws(() => checkMetricsAddress('0.0.0.0:9245', {}), /without encryption/);
  checkMetricsAddress('0.0.0.0:9245', security);
  const s = await startMetricsServer({ listen: '127.0.0.1:0', security, render: () => m.text(), contentType: m.registry.contentType });
  const get = (opts: https.RequestOptions) =>
    new Promise<number>((resolve, reject) => {
      const req = https.get({ host: '127.0.0.1', port: Number(s.address.split(':')[1]), path: '/metrics', servername: 'localhost', ca: fs.readFileSync(certs.ca), ...opts }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on('error', reject);
    });
  try {
    assert.match(s.url, /^https:/);
    assert.equal(await get({ cert: fs.readFileSync(certs.clientCert), key: fs.readFileSync(certs.clientKey) }), 200);
    await assert.rejects(get({}), 'no client certificate: the handshake fails');
    await assert.rejects(get({ cert: fs.readFileSync(certs.rogueCert), key: fs.readFileSync(certs.rogueKey) }), 'a client certificate from another CA');
  } finally {
    await s.close();
    certs.cleanup();
  }
});
