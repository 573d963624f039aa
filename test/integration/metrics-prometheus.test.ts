// Prometheus metrics, end to end: `calitrace serve` on node1 of a fresh lab with --metrics-addr, Debian's
// real `prometheus` (its own temporary directory, a loopback port) scraping it every second while pods
// ping each other, and PromQL through Prometheus' HTTP API answering the verdict counts that the gRPC
// Status reports for the same traffic.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { withLab } from '../helpers/lab';
import { labExec } from '../../src/lab';
import { CalitraceClient } from '../../src/api/client';
import { stopProcess, waitUntil } from '../helpers/api';

const BIN = path.resolve(__dirname, '..', '..', '..', 'bin', 'calitrace.js');
const VERDICTS = ['MATCHED', 'DIVERGED', 'DROPPED', 'EXPECTED_DROP', 'INCOMPLETE', 'STALE_MODEL'];

function spawnLogged(cmd: string, args: string[]): { proc: ChildProcess; output: () => string } {
  const proc = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  proc.stdout!.on('data', (d) => (out += d));
  proc.stderr!.on('data', (d) => (out += d));
  return { proc, output: () => out };
}

/** A loopback port nobody listens on right now (Prometheus cannot be asked for port 0 and tell us). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

interface PromVector {
  metric: Record<string, string>;
  value: [number, string];
}

async function promQuery(base: string, query: string): Promise<PromVector[]> {
  const res = await fetch(`${base}/api/v1/query?query=${encodeURIComponent(query)}`);
  const body = (await res.json()) as { status: string; data: { resultType: string; result: PromVector[] }; error?: string };
  if (body.status !== 'success') throw new Error(`PromQL '${query}': ${body.error}`);
  return body.data.result;
}

function statusVerdicts(other: Record<string, unknown> | null | undefined): Record<string, number> {
  const out: Record<string, number> = {};
  for (const v of VERDICTS) out[v] = Number(other?.[`verdict_${v.toLowerCase()}`] ?? 0);
  return out;
}

test('Prometheus scrapes calitrace serve during lab traffic; PromQL verdict counts equal Status', async () => {
  await withLab(async (lab) => {
    const node1 = lab.nodes.find((n) => n.id === 'node1')!;
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'calitrace-metrics-'));
    const sock = path.join(dir, 'api.sock');
    // Packet mode, asked for: the hop latency histograms below count every packet's hops (case mode
    // measures latency on the first packet of each path only; its packet counts are exported the same).
    const serve = spawnLogged(process.execPath, [BIN, 'serve', '--netns', node1.netns, '--mode', 'packet', '--listen', `unix:${sock}`, '--metrics-addr', '127.0.0.1:0']);
    let prom: ReturnType<typeof spawnLogged> | undefined;
    const client = new CalitraceClient({ server: `unix:${sock}` });
    try {
      await waitUntil(() => /metrics on http:\/\/127\.0\.0\.1:\d+\/metrics/.test(serve.output()) || serve.proc.exitCode !== null, 'serve to print its metrics address', 30000);
      const target = /metrics on http:\/\/(127\.0\.0\.1:\d+)\/metrics/.exec(serve.output())?.[1];
      assert.ok(target, serve.output());

      // The exposition itself, before Prometheus: names, units, the node label, bounded labels only.
      const text = await (await fetch(`http://${target}/metrics`)).text();
      for (const name of ['calitrace_packets_judged_total', 'calitrace_lost_events_total', 'calitrace_hop_latency_seconds', 'calitrace_flows_active',
        'calitrace_flows_evicted_total', 'calitrace_route_model_generation', 'calitrace_route_model_update_seconds', 'calitrace_loader_restarts_total',
        'calitrace_attached_interfaces', 'calitrace_subscribers']) {
        assert.match(text, new RegExp(`^# TYPE ${name} `, 'm'), `${name} is exported`);
      }
      assert.match(text, /^calitrace_attached_interfaces\{hook_kind="workload",node="ems203-w2"\} [1-9]/m);
      assert.match(text, /^calitrace_attached_interfaces\{hook_kind="uplink",node="ems203-w2"\} 1$/m);
      assert.ok(!/10\.233\.|cali[0-9a-f]{11}/.test(text), 'no address or interface name in any label');

      const port = await freePort();
      const base = `http://127.0.0.1:${port}`;
      fs.writeFileSync(path.join(dir, 'prometheus.yml'), [
        'global:', '  scrape_interval: 1s', '  evaluation_interval: 1s',
        'scrape_configs:', '  - job_name: calitrace', '    static_configs:', `      - targets: ['${target}']`, '',
      ].join('\n'));
      prom = spawnLogged('prometheus', [
        `--config.file=${path.join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${path.join(dir, 'data')}`,
        `--web.listen-address=127.0.0.1:${port}`, '--log.level=warn',
      ]);
      await waitUntil(async () => {
        if (prom!.proc.exitCode !== null) throw new Error(`prometheus exited: ${prom!.output()}`);
        try {
          const up = await promQuery(base, 'up{job="calitrace"}');
          return up.length === 1 && up[0].value[1] === '1';
        } catch {
          return false;
        }
      }, 'Prometheus to scrape the target successfully', 30000);

      // Traffic while Prometheus scrapes: same-node, cross-node (VXLAN), and the blackholed address.
      const ping = (to: string, n: number) => labExec(lab.prefix, '10.233.101.222', ['ping', '-c', String(n), '-i', '0.2', '-W', '1', to]);
      const [same, cross, hole] = await Promise.all([ping('10.233.101.224', 10), ping('10.233.100.130', 8), ping('10.233.101.230', 3)]);
      assert.equal(same.code, 0, same.stderr);
      assert.equal(cross.code, 0, cross.stderr);
      assert.notEqual(hole.code, 0);

      // Status and PromQL must agree on every verdict. The lab may add a stray packet (an IGMP report)
      // at any time, so the comparison is taken when Status did not move across the query.
      const query = 'sum by (verdict) (calitrace_packets_judged_total{job="calitrace",node="ems203-w2"})';
      let last = '';
      await waitUntil(async () => {
        const before = statusVerdicts((await client.status()).counters?.other);
        const vec = await promQuery(base, query);
        const after = statusVerdicts((await client.status()).counters?.other);
        const fromProm: Record<string, number> = {};
        for (const v of VERDICTS) fromProm[v] = 0;
        for (const r of vec) fromProm[r.metric.verdict] = Number(r.value[1]);
        last = `Status ${JSON.stringify(after)} vs PromQL ${JSON.stringify(fromProm)}`;
        return JSON.stringify(before) === JSON.stringify(after) && JSON.stringify(after) === JSON.stringify(fromProm);
      }, 'PromQL verdict counts equal to Status', 30000).catch((err: Error) => {
        throw new Error(`${err.message}: ${last}`);
      });
      console.log(last);
      const counts = JSON.parse(last.slice('Status '.length, last.indexOf(' vs '))) as Record<string, number>;
      // 10 + 8 echo requests and as many replies matched; the 3 blackholed requests are expected drops.
      assert.ok(counts.MATCHED >= 36, last);
      assert.ok(counts.EXPECTED_DROP >= 3, last);

      // The protocol label splits the same counts; no label holds an address.
      const icmp = await promQuery(base, 'sum(calitrace_packets_judged_total{protocol="icmp",verdict="EXPECTED_DROP"})');
      assert.ok(Number(icmp[0].value[1]) >= 3);
      // Hop latency: the cross-node echo requests reached the uplink's egress hook.
      const uplinkHops = await promQuery(base, 'calitrace_hop_latency_seconds_count{hook_kind="uplink",direction="egress"}');
      assert.ok(uplinkHops.length === 1 && Number(uplinkHops[0].value[1]) >= 8, JSON.stringify(uplinkHops));
      const p99 = await promQuery(base, 'histogram_quantile(0.99, sum by (le) (calitrace_hop_latency_seconds_bucket{hook_kind="workload",direction="egress"}))');
      assert.ok(Number(p99[0].value[1]) > 0 && Number(p99[0].value[1]) < 0.1, JSON.stringify(p99));
      // Loss sources are all series (zero here), and Status says the same.
      const lost = await promQuery(base, 'calitrace_lost_events_total');
      assert.deepEqual(lost.map((r) => r.metric.source).sort(), ['collector', 'kernel', 'pipe', 'subscriber']);
      const st = await client.status();
      assert.equal(lost.find((r) => r.metric.source === 'kernel')!.value[1], String(Number(st.counters!.lostKernel)));
      const gen = await promQuery(base, 'calitrace_route_model_generation');
      assert.ok(Number(gen[0].value[1]) >= 1);
    } finally {
      client.close();
      if (prom) await stopProcess(prom.proc);
      const code = await stopProcess(serve.proc);
      fs.rmSync(dir, { recursive: true, force: true });
      assert.equal(code, 0, serve.output());
    }
  });
});

test('serve --metrics-addr: a non-loopback address needs TLS or --insecure, a unix socket is refused', async () => {
  const run = (args: string[]) =>
    new Promise<{ code: number; stderr: string }>((resolve) => {
      const p = spawnLogged(process.execPath, [BIN, 'serve', ...args]);
      p.proc.on('exit', (code) => resolve({ code: code ?? -1, stderr: p.output() }));
    });
  const open = await run(['--listen', 'unix:/tmp/calitrace-never.sock', '--metrics-addr', '0.0.0.0:9245']);
  assert.equal(open.code, 2);
  assert.match(open.stderr, /--metrics-addr: listening on 0\.0\.0\.0:9245 would expose .*--tls-cert and --tls-key.*--insecure/);
  const unix = await run(['--metrics-addr', 'unix:/tmp/m.sock']);
  assert.equal(unix.code, 2);
  assert.match(unix.stderr, /Prometheus scrapes TCP, give HOST:PORT/);
});

test('docs/metrics.md: the three example alerts are rules promtool accepts, on metrics that exist', async () => {
  const doc = fs.readFileSync(path.resolve(__dirname, '..', '..', '..', 'docs', 'metrics.md'), 'utf8');
  const m = /```yaml\n(groups:[\s\S]*?)```/.exec(doc);
  assert.ok(m, 'docs/metrics.md has an alert rules block');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'calitrace-rules-'));
  try {
    fs.writeFileSync(path.join(dir, 'rules.yml'), m[1]);
    const out = await new Promise<{ code: number; text: string }>((resolve) => {
      const p = spawnLogged('promtool', ['check', 'rules', path.join(dir, 'rules.yml')]);
      p.proc.on('exit', (code) => resolve({ code: code ?? -1, text: p.output() }));
    });
    assert.equal(out.code, 0, out.text);
    assert.match(out.text, /SUCCESS: 3 rules found/);
    for (const name of ['calitrace_packets_judged_total{verdict="DROPPED"}', 'calitrace_lost_events_total', 'calitrace_packets_judged_total{verdict="STALE_MODEL"}']) {
      assert.ok(m[1].includes(name), `an alert uses ${name}`);
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
