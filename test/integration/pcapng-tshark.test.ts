// pcapng end to end: `calitrace trace --write` on node1 of a fresh lab during real traffic (same-node,
// cross-node through VXLAN, a ping into the IPAM-block blackhole), then Debian's real `tshark -r` reads the
// file, and its fields — frame.comment, ip.src, ip.dst (inner and outer headers of VXLAN), vxlan.vni,
// frame.interface_name, the EPB direction flag, the timestamps — match what `trace -o json` printed for
// the same packets. `--write -` streams the same format on stdout, and `observe --write` writes the same
// from a `serve --snaplen` over gRPC.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFile, ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { withLab } from '../helpers/lab';
import { labExec } from '../../src/lab';
import { stopProcess, waitUntil } from '../helpers/api';

const BIN = path.resolve(__dirname, '..', '..', '..', 'bin', 'calitrace.js');

// A verdict as trace -o json prints it (schema calitrace.verdict/v1, docs/output.md).
interface Hop {
  interface: string;
  direction: 'ingress' | 'egress' | 'drop';
  timeNs: number;
  tunnel?: { outerSrc: string; outerDst: string; vni: number };
  dropReason?: string;
}
interface VerdictLine {
  verdict: string;
  reason: string;
  src: string;
  dst: string;
  fingerprint: string;
  observed: Hop[];
  predicted: string[];
}

const FIELDS = ['frame.interface_name', 'frame.interface_description', 'frame.packet_flags_direction', 'frame.time_epoch', 'frame.len', 'frame.cap_len', 'ip.src', 'ip.dst', 'ip.len', 'vxlan.vni', 'frame.comment'] as const;
type Row = Record<(typeof FIELDS)[number], string>;

function tshark(file: string): Promise<Row[]> {
  const args = ['-r', file, '-T', 'fields', '-E', 'separator=/t', '-E', 'occurrence=a', ...FIELDS.flatMap((f) => ['-e', f])];
  return new Promise((resolve, reject) =>
    execFile('tshark', args, { maxBuffer: 64 << 20 }, (err, stdout, stderr) => {
      if (err) return reject(new Error(`tshark: ${err.message} ${stderr}`));
      resolve(stdout.split('\n').filter(Boolean).map((line) => {
        const cells = line.split('\t');
        return Object.fromEntries(FIELDS.map((f, i) => [f, cells[i] ?? ''])) as Row;
      }));
    }),
  );
}

/** '1764792694.443123456' → ns as BigInt (exact: a float would lose the nanoseconds). */
function epochNs(text: string): bigint {
  const [s, frac = ''] = text.split('.');
  return BigInt(s) * 1_000_000_000n + BigInt(frac.padEnd(9, '0').slice(0, 9));
}

function startTrace(args: string[]): { proc: ChildProcess; stdout: () => Buffer; stderr: () => string } {
  const proc = spawn(process.execPath, [BIN, 'trace', '--no-ui', '--no-api', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  const out: Buffer[] = [];
  let err = '';
  proc.stdout!.on('data', (d: Buffer) => out.push(d));
  proc.stderr!.on('data', (d) => (err += d));
  return { proc, stdout: () => Buffer.concat(out), stderr: () => err };
}

test('trace --write: tshark reads every hop of every judged packet with the verdict trace -o json printed', async () => {
  await withLab(async (lab) => {
    const node1 = lab.nodes.find((n) => n.id === 'node1')!;
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'calitrace-pcapng-'));
    const file = path.join(dir, 'trace.pcapng');
    const trace = startTrace(['--netns', node1.netns, '-o', 'json', '--src', '10.233.101.222', '--write', file]);
    try {
      await waitUntil(() => /writing judged packets/.test(trace.stderr()) || trace.proc.exitCode !== null, 'the trace to start writing', 30000);
      const ping = (to: string, n: number) => labExec(lab.prefix, '10.233.101.222', ['ping', '-c', String(n), '-i', '0.2', '-W', '1', to]);
      assert.equal((await ping('10.233.100.130', 3)).code, 0); // cross-node: VXLAN on the uplink
      assert.equal((await ping('10.233.101.224', 2)).code, 0); // same node
      assert.notEqual((await ping('10.233.101.230', 2)).code, 0); // the IPAM-block blackhole
      const verdicts = () => trace.stdout().toString().split('\n').filter(Boolean).map((l) => JSON.parse(l) as VerdictLine);
      await waitUntil(() => verdicts().filter((v) => ['10.233.100.130', '10.233.101.224', '10.233.101.230'].includes(v.dst)).length >= 7, 'seven verdicts', 15000);
      const code = await stopProcess(trace.proc);
      assert.equal(code, 0, trace.stderr());
      assert.match(trace.stderr(), /wrote \d+ packet blocks \(\d+ with their verdict, 0 unjudged\).*lost: 0 snapshots in kernel, 0 hook events without one, 0 blocks to a slow reader/);

      const lines = verdicts();
      const rows = await tshark(file);
      const pings = lines.filter((v) => ['10.233.100.130', '10.233.101.224', '10.233.101.230'].includes(v.dst));
      assert.equal(pings.filter((v) => v.dst === '10.233.100.130').length, 3);
      assert.equal(pings.filter((v) => v.dst === '10.233.101.230').length, 2);
      // Every hop of every printed packet is one block, and every block is a hop of a printed packet.
      assert.equal(rows.length, lines.reduce((n, v) => n + v.observed.length, 0), 'one packet block per packet per hop');

      let vxlanSeen = 0;
      let dropsSeen = 0;
      for (const v of pings) {
        const mine = rows.filter((r) => r['frame.comment'].endsWith(`fingerprint ${v.fingerprint}`));
        assert.equal(mine.length, v.observed.length, `blocks of ${v.fingerprint}`);
        const hops = [...v.observed].sort((a, b) => a.timeNs - b.timeNs);
        const t0 = epochNs(mine.find((r) => r['frame.comment'].includes(`| hop 1/${hops.length}:`))!['frame.time_epoch']);
        hops.forEach((h, i) => {
          const r = mine.find((x) => x['frame.comment'].includes(`| hop ${i + 1}/${hops.length}:`));
          assert.ok(r, `hop ${i + 1} of ${v.fingerprint}`);
          const c = r['frame.comment'];
          // The comment: verdict, reason, predicted and observed paths, exactly as trace -o json said.
          assert.ok(c.startsWith(`calitrace ${v.verdict} | reason: ${v.reason.replace(/\s+/g, ' ')} | predicted: ${v.predicted.join(' -> ')} | observed: `), c);
          assert.equal(r['frame.interface_name'], h.interface);
          assert.match(r['frame.interface_description'], /on node ems203-w2/);
          // The kernel timestamps: the gap to the first hop is the one the tracer measured, to the ns.
          assert.equal(epochNs(r['frame.time_epoch']) - t0, BigInt(h.timeNs - hops[0].timeNs), `time of hop ${i + 1}`);
          if (h.direction === 'drop') {
            dropsSeen++;
            assert.equal(r['frame.packet_flags_direction'], ''); // no direction: not seen at a tc hook
            assert.match(c, new RegExp(`drop reason: ${h.dropReason}`));
            assert.equal(r['ip.src'], v.src);
            assert.equal(r['ip.dst'], v.dst);
            assert.equal(r['frame.len'], r['ip.len'], 'a drop is the IP packet, from its header to its end');
            return;
          }
          assert.equal(r['frame.packet_flags_direction'], h.direction === 'ingress' ? '0x00000001' : '0x00000002', `direction of ${h.interface} ${h.direction}`);
          if (h.tunnel) {
            vxlanSeen++;
            // Outer header first, then the inner one: both decoded from the bytes the tracer copied.
            assert.equal(r['ip.src'], `${h.tunnel.outerSrc},${v.src}`);
            assert.equal(r['ip.dst'], `${h.tunnel.outerDst},${v.dst}`);
            assert.equal(r['vxlan.vni'], String(h.tunnel.vni));
            assert.ok(Number(r['frame.len']) > Number(r['frame.cap_len']), 'a VXLAN echo request is longer than the default snaplen');
          } else {
            assert.equal(r['ip.src'], v.src);
            assert.equal(r['ip.dst'], v.dst);
            assert.equal(r['vxlan.vni'], '');
            assert.equal(Number(r['frame.len']), Number(r['ip.len']) + 14, 'the Ethernet frame as the hook saw it');
          }
        });
      }
      assert.equal(vxlanSeen, 3, 'the three cross-node echo requests left ens3 encapsulated');
      assert.equal(dropsSeen, 2, 'the two blackholed echo requests died on the node');
      const bh = pings.find((v) => v.dst === '10.233.101.230')!;
      assert.equal(bh.verdict, 'EXPECTED_DROP');
    } finally {
      await stopProcess(trace.proc);
      fs.rmSync(dir, { recursive: true, force: true });
    }

    // --write - : the pcapng stream on stdout, lines only as the counts on stderr.
    const live = startTrace(['--netns', node1.netns, '--dst', '10.233.101.224', '--count', '2', '--write', '-', '--snaplen', '64']);
    await waitUntil(() => /writing judged packets/.test(live.stderr()) || live.proc.exitCode !== null, 'the stdout trace to start', 30000);
    assert.equal((await labExec(lab.prefix, '10.233.101.222', ['ping', '-c', '2', '-i', '0.2', '10.233.101.224'])).code, 0);
    const exited = await new Promise<number | null>((resolve) => (live.proc.exitCode !== null ? resolve(live.proc.exitCode) : live.proc.once('exit', resolve)));
    assert.equal(exited, 0, live.stderr());
    const bytes = live.stdout();
    assert.equal(bytes.readUInt32LE(0), 0x0a0d0d0a, 'stdout starts with a pcapng section header');
    const dir2 = fs.mkdtempSync(path.join(os.tmpdir(), 'calitrace-pcapng-'));
    try {
      fs.writeFileSync(path.join(dir2, 'stdout.pcapng'), bytes);
      const rows = await tshark(path.join(dir2, 'stdout.pcapng'));
      const requests = rows.filter((r) => r['ip.dst'] === '10.233.101.224');
      assert.equal(requests.length, 4, 'two echo requests, each at its two hooks');
      assert.deepEqual(requests.map((r) => r['frame.interface_name']).sort(), ['cali11299111064', 'cali11299111064', 'caliaa479e31ff6', 'caliaa479e31ff6']);
      assert.ok(requests.every((r) => r['frame.cap_len'] === '64' && r['frame.comment'].startsWith('calitrace MATCHED | ')));
    } finally {
      fs.rmSync(dir2, { recursive: true, force: true });
    }

    // observe --write against `serve --snaplen`: the verdicts' hops carry the bytes over gRPC.
    const dir3 = fs.mkdtempSync(path.join(os.tmpdir(), 'calitrace-pcapng-'));
    const sock = path.join(dir3, 'api.sock');
    const serve = spawn(process.execPath, [BIN, 'serve', '--netns', node1.netns, '--listen', `unix:${sock}`, '--metrics-addr', 'off', '--snaplen', '128'], { stdio: ['ignore', 'ignore', 'pipe'] });
    let serveErr = '';
    serve.stderr!.on('data', (d) => (serveErr += d));
    try {
      await waitUntil(() => /API on unix:/.test(serveErr) || serve.exitCode !== null, 'serve --snaplen to listen', 30000);
      assert.equal((await labExec(lab.prefix, '10.233.101.222', ['ping', '-c', '2', '-i', '0.2', '10.233.100.130'])).code, 0);
      assert.notEqual((await labExec(lab.prefix, '10.233.101.222', ['ping', '-c', '1', '-W', '1', '10.233.101.230'])).code, 0);
      const observe = (args: string[]) =>
        new Promise<{ code: number; stdout: string; stderr: string }>((resolve) =>
          execFile(process.execPath, [BIN, 'observe', '--server', `unix:${sock}`, ...args], { timeout: 20000 }, (err, stdout, stderr) =>
            resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr })),
        );
      const filter = ['type=verdict', 'src=10.233.101.222', 'dst=10.233.100.130,10.233.101.230'];
      await waitUntil(async () => (await observe(['--last', '10', '-o', 'json', ...filter])).stdout.trim().split('\n').filter(Boolean).length >= 3, 'three verdicts on the server', 15000);
      const file = path.join(dir3, 'observe.pcapng');
      const w = await observe(['--last', '10', '-o', 'json', '--write', file, ...filter]);
      assert.equal(w.code, 0, w.stderr);
      assert.match(w.stderr, /wrote 8 packet blocks/); // 2 × 3 hops across VXLAN + 1 × 2 hops into the blackhole
      const items = w.stdout.trim().split('\n').map((l) => JSON.parse(l)); // calitrace.verdict/v1
      const rows = await tshark(file);
      assert.equal(rows.length, 8);
      for (const v of items) {
        const mine = rows.filter((r) => r['frame.comment'].endsWith(`fingerprint ${v.fingerprint}`));
        assert.equal(mine.length, v.observed.length);
        v.observed.forEach((h: { interface: string; direction: string; tunnel?: { outerSrc: string; outerDst: string; vni: number } }, i: number) => {
          const r = mine.find((x) => x['frame.comment'].includes(`| hop ${i + 1}/${v.observed.length}:`))!;
          assert.ok(r['frame.comment'].startsWith(`calitrace ${v.verdict} | reason: ${v.reason.replace(/\s+/g, ' ')} | predicted: ${v.predicted.join(' -> ')}`), r['frame.comment']);
          assert.equal(r['frame.interface_name'], h.interface);
          assert.equal(r['frame.packet_flags_direction'], ({ ingress: '0x00000001', egress: '0x00000002', drop: '' } as Record<string, string>)[h.direction]);
          assert.equal(r['ip.src'], h.tunnel ? `${h.tunnel.outerSrc},${v.src}` : v.src);
          assert.equal(r['ip.dst'], h.tunnel ? `${h.tunnel.outerDst},${v.dst}` : v.dst);
          assert.equal(r['vxlan.vni'], h.tunnel ? String(h.tunnel.vni) : '');
        });
      }
    } finally {
      await stopProcess(serve);
      fs.rmSync(dir3, { recursive: true, force: true });
    }
  });
});
