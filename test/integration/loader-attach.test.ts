// C-side behaviours of calitrace-loader in the lab (node1's namespace), with real BPF and real packets:
// what it attaches to and how, following links as they come and go, leaving a foreign tc program alone
// (attached and still running, during and after), clean exit on stdin EOF / SIGTERM, nothing of ours
// left after kill -9 (TCX), and the clsact fallback removing its own leftovers and only those.
// Frames are parsed here with the offsets of docs/protocol.md (independently of src/capture).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFile, ChildProcessWithoutNullStreams } from 'node:child_process';
import * as path from 'node:path';
import { withLab } from '../helpers/lab';
import { labExec, LabInfo } from '../../src/lab';
import { CALI_A, CALI_B, POD_A, POD_B } from '../helpers/path-fixtures';

const root = path.resolve(__dirname, '../../..');
const loaderPath = path.join(root, 'bpf/.output/calitrace-loader');
const fixtureObj = path.join(root, 'bpf/.output/fixture_tc.bpf.o');

const FRAME = { HELLO: 1, EVENTS: 2, STATS: 3, LINK: 4, ERROR: 5, ACK: 6, BYE: 7 } as const;

interface Frame {
  type: number;
  seq: number;
  payload: Buffer;
  atMs: number;
}
interface LinkFrame {
  ifindex: number;
  state: number;
  how: number;
  role: number;
  name: string;
}
interface Rec {
  ifindex: number;
  dir: number;
  kind: number;
  src: string;
  dst: string;
  fingerprint: string;
}

function sh(argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(argv[0], argv.slice(1), { encoding: 'utf8' }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as NodeJS.ErrnoException).code === 'number' ? Number((err as NodeJS.ErrnoException).code) : 1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

async function mustSh(argv: string[]): Promise<string> {
  const r = await sh(argv);
  assert.equal(r.code, 0, `${argv.join(' ')} failed: ${r.stderr}`);
  return r.stdout;
}

async function waitFor<T>(what: string, fn: () => T | undefined | Promise<T | undefined>, timeoutMs = 5000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined && v !== null && (v as unknown) !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** A running loader and the frames it has written so far. */
class Loader {
  readonly frames: Frame[] = [];
  readonly child: ChildProcessWithoutNullStreams;
  stderr = '';
  exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  private pending = Buffer.alloc(0);

  constructor(args: string[]) {
    this.child = spawn(loaderPath, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    this.child.stdout.on('data', (chunk: Buffer) => this.onData(chunk));
    this.child.stderr.on('data', (chunk: Buffer) => (this.stderr += chunk.toString()));
    this.child.on('exit', (code, signal) => (this.exit = { code, signal }));
  }

  private onData(chunk: Buffer): void {
    this.pending = Buffer.concat([this.pending, chunk]);
    while (this.pending.length >= 16) {
      assert.equal(this.pending.readUInt32LE(0), 0x52544354, 'frame magic');
      assert.equal(this.pending.readUInt16LE(4), 2, 'protocol version (docs/protocol.md)');
      const len = this.pending.readUInt32LE(8);
      if (this.pending.length < 16 + len) break;
      this.frames.push({
        type: this.pending.readUInt16LE(6),
        seq: this.pending.readUInt32LE(12),
        payload: Buffer.from(this.pending.subarray(16, 16 + len)),
        atMs: performance.now(),
      });
      this.pending = this.pending.subarray(16 + len);
    }
  }

  links(): (LinkFrame & { atMs: number })[] {
    return this.frames
      .filter((f) => f.type === FRAME.LINK)
      .map((f) => ({
        ifindex: f.payload.readUInt32LE(0),
        state: f.payload[4],
        how: f.payload[5],
        role: f.payload[6],
        name: f.payload.subarray(12, 12 + f.payload.readUInt16LE(8)).toString(),
        atMs: f.atMs,
      }));
  }

  /** The latest LINK frame per interface name. */
  linkState(): Map<string, LinkFrame> {
    const m = new Map<string, LinkFrame>();
    for (const l of this.links()) m.set(l.name, l);
    return m;
  }

  errors(): string[] {
    return this.frames
      .filter((f) => f.type === FRAME.ERROR)
      .map((f) => f.payload.subarray(8, 8 + f.payload.readUInt16LE(6)).toString());
  }

  records(): Rec[] {
    const out: Rec[] = [];
    for (const f of this.frames.filter((x) => x.type === FRAME.EVENTS)) {
      // docs/protocol.md "EVENTS": count, base_size, then records back to back, each `size` (u16 at 0)
      // bytes; the lab is IPv4, whose addresses are in the base (src4 at 64, dst4 at 68).
      const count = f.payload.readUInt32LE(0);
      assert.equal(f.payload.readUInt32LE(4), 72, 'base_size');
      let off = 8;
      for (let i = 0; i < count; i++) {
        const r = f.payload.subarray(off, off + f.payload.readUInt16LE(off));
        const ip = (o: number) => [...r.subarray(o, o + 4)].join('.');
        out.push({
          ifindex: r.readUInt32LE(24),
          kind: r[3],
          dir: r[4],
          src: ip(64),
          dst: ip(68),
          fingerprint: r.readBigUInt64LE(16).toString(16).padStart(16, '0'),
        });
        off += r.length;
      }
    }
    return out;
  }

  exited(): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    return waitFor('the loader to exit', () => this.exit, 5000);
  }

  kill9(): void {
    this.child.kill('SIGKILL');
  }
}

function startLoader(lab: LabInfo, extra: string[] = []): Loader {
  return new Loader(['--netns', `${lab.prefix}-node1`, '--stats-ms', '0', ...extra]);
}

/** Programs on the device's TCX hooks and in our clsact slot, as the loader's --show reports them. */
async function attachedPrograms(lab: LabInfo, ifname: string): Promise<string[]> {
  const out = await mustSh([loaderPath, '--netns', `${lab.prefix}-node1`, '--show', ifname]);
  return out.split('\n').filter(Boolean);
}

async function tcFilters(lab: LabInfo, ifname: string, dir: 'ingress' | 'egress'): Promise<string> {
  return mustSh(['ip', 'netns', 'exec', `${lab.prefix}-node1`, 'tc', 'filter', 'show', 'dev', ifname, dir]);
}

/** Attaches the foreign fixture program (clsact, direct-action) and returns its prog id. */
async function attachFixture(lab: LabInfo, ifname: string, dir: 'ingress' | 'egress', prio: number, handle: string): Promise<number> {
  const ns = `${lab.prefix}-node1`;
  await sh(['ip', 'netns', 'exec', ns, 'tc', 'qdisc', 'add', 'dev', ifname, 'clsact']); // may exist already
  await mustSh(['ip', 'netns', 'exec', ns, 'tc', 'filter', 'add', 'dev', ifname, dir, 'prio', String(prio), 'handle', handle,
    'bpf', 'da', 'obj', fixtureObj, 'sec', 'tc']);
  const shown = await tcFilters(lab, ifname, dir);
  const m = shown.match(new RegExp(`handle ${handle} .* id (\\d+) name fixture_other`));
  assert.ok(m, `fixture attached: ${shown}`);
  return Number(m[1]);
}

/** The fixture's packet counter (its .bss global), read through bpftool by program id. */
async function fixtureCount(progId: number): Promise<number> {
  const prog = JSON.parse(await mustSh(['bpftool', 'prog', 'show', 'id', String(progId), '-j'])) as { map_ids: number[] };
  const dump = JSON.parse(await mustSh(['bpftool', 'map', 'dump', 'id', String(prog.map_ids[0]), '-j'])) as
    { formatted: { value: { '.bss': { fixture_packets: number }[] } } }[];
  return dump[0].formatted.value['.bss'][0].fixture_packets;
}

async function ping(lab: LabInfo, from: string, to: string, count = 2): Promise<void> {
  const r = await labExec(lab.prefix, from, ['ping', '-c', String(count), '-i', '0.2', '-W', '1', '-q', to]);
  assert.equal(r.code, 0, `ping ${from} -> ${to}: ${r.stdout}${r.stderr}`);
}

const DEFAULT_IFACES = [CALI_A, CALI_B, 'vxlan.calico', 'ens3'];

test('calitrace-loader in the lab: attach, follow, coexist, detach', async (t) => {
  await withLab(async (lab) => {
    await t.test('TCX at the head on cali*, vxlan.calico and the uplink; a foreign tc program keeps running; EOF detaches', async () => {
      const fixtureId = await attachFixture(lab, 'caliaa479e31ff6', 'ingress', 11, '0x8');
      await ping(lab, POD_B, POD_A);
      const before = await fixtureCount(fixtureId);
      assert.ok(before > 0, 'the fixture counts packets before calitrace starts');

      const loader = startLoader(lab);
      try {
        const links = await waitFor('LINK attached frames for the default interfaces', () => {
          const s = loader.linkState();
          return DEFAULT_IFACES.every((n) => s.get(n)?.state === 1) ? s : undefined;
        });
        assert.equal(loader.frames[0].type, FRAME.HELLO, 'HELLO comes first');
        for (const n of DEFAULT_IFACES) assert.equal(links.get(n)!.how, 1, `${n} attached with TCX`);
        assert.equal(links.get('ens3')!.role, 2, 'ens3 is attached as the uplink (vxlan.calico underlay), not by pattern');
        assert.equal(links.get('cali11299111064')!.role, 1);
        assert.deepEqual(loader.errors(), []);

        const shown = await attachedPrograms(lab, 'caliaa479e31ff6');
        assert.ok(shown.some((l) => /^tcx ingress \d+ ct_tc_ingress$/.test(l)), shown.join('\n'));
        assert.ok(shown.some((l) => /^tcx egress \d+ ct_tc_egress$/.test(l)), shown.join('\n'));
        assert.match(await tcFilters(lab, 'caliaa479e31ff6', 'ingress'), /name fixture_other/);

        await ping(lab, POD_B, POD_A);
        const during = await fixtureCount(fixtureId);
        assert.ok(during >= before + 2, `the fixture still sees packets while traced (${before} -> ${during})`);
        const idxB = links.get('caliaa479e31ff6')!.ifindex;
        await waitFor('our record of the same packets at caliaa479e31ff6 ingress', () =>
          loader.records().find((r) => r.ifindex === idxB && r.dir === 0 && r.src === POD_B && r.dst === POD_A));

        loader.child.stdin.end(); // EOF = clean exit
        const exit = await loader.exited();
        assert.deepEqual(exit, { code: 0, signal: null });
        assert.equal(loader.frames[loader.frames.length - 1].type, FRAME.BYE, 'BYE is the last frame');
        const detached = loader.linkState();
        for (const n of DEFAULT_IFACES) assert.equal(detached.get(n)!.state, 0, `${n} reported detached`);
        for (const n of DEFAULT_IFACES) assert.deepEqual(await attachedPrograms(lab, n), [], `nothing of ours on ${n}`);

        assert.match(await tcFilters(lab, 'caliaa479e31ff6', 'ingress'), /name fixture_other/, 'the fixture is still attached');
        await ping(lab, POD_B, POD_A);
        const after = await fixtureCount(fixtureId);
        assert.ok(after >= during + 2, `the fixture still runs after calitrace stopped (${during} -> ${after})`);
      } finally {
        if (!loader.exit) loader.kill9();
      }
    });

    await t.test('a new cali* link is attached as soon as it appears, and its removal is reported without errors', async () => {
      const loader = startLoader(lab);
      const ns = `${lab.prefix}-node1`;
      const name = `cali${Math.random().toString(16).slice(2, 13).padEnd(11, '0')}`;
      try {
        await waitFor('initial attach', () => (loader.linkState().get('cali11299111064')?.state === 1 ? true : undefined));
        const t0 = performance.now();
        await mustSh(['ip', '-n', ns, 'link', 'add', name, 'type', 'veth', 'peer', 'name', `x${name.slice(4)}`]);
        const up = await waitFor(`LINK attached for ${name}`, () => loader.links().find((l) => l.name === name && l.state === 1));
        console.log(`# new interface ${name}: attached ${(up.atMs - t0).toFixed(1)} ms after 'ip link add' was started`);
        assert.equal(up.how, 1);
        assert.ok(!loader.links().some((l) => l.name === `x${name.slice(4)}`), 'the non-matching peer is not attached');
        assert.ok((await attachedPrograms(lab, name)).length === 2);

        await mustSh(['ip', '-n', ns, 'link', 'del', name]);
        await waitFor(`LINK detached for ${name}`, () => loader.links().find((l) => l.name === name && l.state === 0));
        assert.deepEqual(loader.errors(), [], 'removing an interface is not an error');
        loader.child.kill('SIGTERM');
        assert.deepEqual(await loader.exited(), { code: 0, signal: null }, 'SIGTERM is a clean exit');
        assert.equal(loader.frames[loader.frames.length - 1].type, FRAME.BYE);
      } finally {
        if (!loader.exit) loader.kill9();
        await sh(['ip', '-n', ns, 'link', 'del', name]);
      }
    });

    await t.test('TCX attaches at the head: before a TCX program that was there first', async () => {
      // The program already there is another loader instance's (a real TCX program held by a live link).
      const earlier = startLoader(lab, ['--no-default-ifaces', '-i', 'caliaa479e31ff6']);
      let later: Loader | undefined;
      try {
        await waitFor('earlier attach', () => (earlier.linkState().get('caliaa479e31ff6')?.state === 1 ? true : undefined));
        const before = await attachedPrograms(lab, 'caliaa479e31ff6');
        const earlierIds = new Set(before.map((l) => l.split(' ')[2]));
        later = startLoader(lab, ['--no-default-ifaces', '-i', 'caliaa479e31ff6']);
        const l = later;
        await waitFor('later attach', () => (l.linkState().get('caliaa479e31ff6')?.state === 1 ? true : undefined));
        const order = (await attachedPrograms(lab, 'caliaa479e31ff6')).filter((x) => x.startsWith('tcx ingress'));
        assert.equal(order.length, 2, order.join('\n'));
        assert.ok(!earlierIds.has(order[0].split(' ')[2]), `the later program runs first:\n${order.join('\n')}`);
        assert.ok(earlierIds.has(order[1].split(' ')[2]), `the earlier program runs second:\n${order.join('\n')}`);
      } finally {
        earlier.child.stdin.end();
        later?.child.stdin.end();
      }
      assert.deepEqual(await earlier.exited(), { code: 0, signal: null });
      assert.ok(later);
      assert.deepEqual(await earlier.exited(), { code: 0, signal: null });
      assert.deepEqual(await later.exited(), { code: 0, signal: null });
    });

    await t.test('kill -9 leaves nothing of ours attached (TCX links die with the process)', async () => {
      const loader = startLoader(lab);
      try {
        await waitFor('attach', () => (DEFAULT_IFACES.every((n) => loader.linkState().get(n)?.state === 1) ? true : undefined));
        assert.equal((await attachedPrograms(lab, 'cali11299111064')).length, 2);
      } finally {
        loader.kill9();
      }
      const exit = await loader.exited();
      assert.equal(exit.signal, 'SIGKILL');
      for (const n of DEFAULT_IFACES) {
        await waitFor(`nothing of ours on ${n}`, async () => ((await attachedPrograms(lab, n)).length === 0 ? true : undefined));
      }
      assert.match(await tcFilters(lab, 'caliaa479e31ff6', 'ingress'), /name fixture_other/, 'the foreign program is untouched');
    });

    await t.test('clsact fallback: the next start removes our leftovers after kill -9, and only ours', async () => {
      // A foreign program in OUR slot (handle 0xca11, prio 1) on one device: it must be left alone.
      const squatterId = await attachFixture(lab, 'cali11299111064', 'egress', 1, '0xca11');
      const first = startLoader(lab, ['--attach-mode', 'tc']);
      try {
        await waitFor('tc attach', () => (first.linkState().get('caliaa479e31ff6')?.state === 1 ? true : undefined));
        assert.equal(first.linkState().get('caliaa479e31ff6')!.how, 2, 'attached as a clsact filter');
        const refused = await waitFor('cali11299111064 refused', () => first.linkState().get('cali11299111064'));
        assert.equal(refused.state, 2, 'attach failed where a foreign program holds our slot');
        assert.ok(first.errors().some((e) => e.includes('cali11299111064')), first.errors().join('\n'));
      } finally {
        first.kill9();
      }
      await first.exited();
      // kill -9 leaves clsact filters behind (unlike TCX links): exactly what the next start must clean up.
      const leftovers = await attachedPrograms(lab, 'caliaa479e31ff6');
      assert.equal(leftovers.length, 2, leftovers.join('\n'));
      expectMatch(leftovers, /^tc ingress \d+ ct_tc_ingress$/);
      expectMatch(leftovers, /^tc egress \d+ ct_tc_egress$/);

      const second = startLoader(lab, ['--attach-mode', 'tc']);
      try {
        await waitFor('re-attach', () => (second.linkState().get('caliaa479e31ff6')?.state === 1 ? true : undefined));
        const filters = await tcFilters(lab, 'caliaa479e31ff6', 'ingress');
        assert.equal((filters.match(/name ct_tc_ingress/g) ?? []).length, 1, `exactly one of ours: ${filters}`);
        assert.match(filters, /name fixture_other/);
      } finally {
        second.child.stdin.end();
      }
      assert.deepEqual(await second.exited(), { code: 0, signal: null });
      assert.deepEqual(await attachedPrograms(lab, 'caliaa479e31ff6'), [], 'clean exit removed our filters');
      const squat = await tcFilters(lab, 'cali11299111064', 'egress');
      assert.match(squat, new RegExp(`handle 0xca11 .* id ${squatterId} name fixture_other`), 'the foreign program in our slot survived');
      assert.match(await tcFilters(lab, 'caliaa479e31ff6', 'ingress'), /name fixture_other/);
    });
  });
});

function lastStats(l: Loader): { dropsSeen: bigint; pktsMatched: bigint } | undefined {
  const f = [...l.frames].reverse().find((x) => x.type === FRAME.STATS);
  return f ? { pktsMatched: f.payload.readBigUInt64LE(40), dropsSeen: f.payload.readBigUInt64LE(48) } : undefined;
}

test('drops are reported only in the loader\'s own network namespace', async () => {
  await withLab(async (lab) => {
    // The same filter in node1 and node2; the blackholed packet dies in node1 only. kfree_skb runs every
    // attached program synchronously, so once node1's record has arrived, node2's counter is final.
    const filter = ['--filter', 'dst 10.233.101.230'];
    const node1 = startLoader(lab, filter);
    const node2 = new Loader(['--netns', `${lab.prefix}-node2`, '--stats-ms', '0', ...filter]);
    try {
      await waitFor('both attached', () =>
        node1.linkState().get('ens3')?.state === 1 && node2.linkState().get('ens3')?.state === 1 ? true : undefined);
      await labExec(lab.prefix, POD_A, ['ping', '-c', '1', '-W', '1', '10.233.101.230']); // fails by design
      const drop = await waitFor('the drop in node1', () => node1.records().find((r) => r.kind === 3 && r.dst === '10.233.101.230'));
      assert.equal(drop.src, POD_A);
      node1.child.stdin.write('stats\n');
      node2.child.stdin.write('stats\n');
      const s1 = await waitFor('node1 stats', () => lastStats(node1));
      const s2 = await waitFor('node2 stats', () => lastStats(node2));
      assert.ok(s1.dropsSeen >= 1n, 'node1 counted the drop');
      assert.equal(s2.dropsSeen, 0n, 'node2 saw the same tracepoint fire in another namespace and ignored it');
      assert.ok(!node2.records().some((r) => r.kind === 3), 'no drop record in node2');
    } finally {
      node1.child.stdin.end();
      node2.child.stdin.end();
      await Promise.all([node1.exited(), node2.exited()]);
    }
  });
});

test('one fingerprint for the packet at every hop on both nodes (pod, vxlan.calico, uplink; encap and decap)', async () => {
  await withLab(async (lab) => {
    const filter = ['--filter', 'proto icmp host 10.233.100.130'];
    const node1 = startLoader(lab, filter);
    const node2 = new Loader(['--netns', `${lab.prefix}-node2`, '--stats-ms', '0', ...filter]);
    try {
      await waitFor('both attached', () =>
        node1.linkState().get('ens3')?.state === 1 && node2.linkState().get('ens3')?.state === 1 ? true : undefined);
      await ping(lab, POD_A, '10.233.100.130', 1);
      const hops = (l: Loader) => l.records().filter((r) => r.kind === 1 && r.src === POD_A && r.dst === '10.233.100.130');
      // node1: cali ingress, vxlan.calico egress, ens3 egress; node2: ens3 ingress, vxlan.calico ingress, cali egress.
      await waitFor('three hops on each node', () => (hops(node1).length >= 3 && hops(node2).length >= 3 ? true : undefined));
      const all = [...hops(node1), ...hops(node2)];
      assert.equal(new Set(all.map((r) => r.fingerprint)).size, 1, JSON.stringify(all, null, 1));
      const n1 = node1.linkState();
      const n2 = node2.linkState();
      const where = (l: Map<string, LinkFrame>, r: Rec) => `${[...l.values()].find((x) => x.ifindex === r.ifindex)?.name}/${r.dir ? 'egress' : 'ingress'}`;
      assert.deepEqual(hops(node1).map((r) => where(n1, r)).sort(), ['ens3/egress', 'vxlan.calico/egress', 'cali11299111064/ingress'].sort());
      assert.deepEqual(hops(node2).map((r) => where(n2, r)).sort().filter((w) => !w.startsWith('cali')),
        ['ens3/ingress', 'vxlan.calico/ingress']);
      assert.ok(hops(node2).some((r) => where(n2, r).startsWith('cali') && r.dir === 1), 'delivered out of the pod interface on node2');
    } finally {
      node1.child.stdin.end();
      node2.child.stdin.end();
      await Promise.all([node1.exited(), node2.exited()]);
    }
  });
});

test('rename and the attach/detach commands change what is traced', async () => {
  await withLab(async (lab) => {
    const ns = `${lab.prefix}-node1`;
    const loader = startLoader(lab);
    const tmp = `tmp${Math.random().toString(16).slice(2, 10)}`;
    const cali = `cali${Math.random().toString(16).slice(2, 13).padEnd(11, '0')}`;
    const acked = async (cmd: string) => {
      const before = loader.frames.filter((f) => f.type === FRAME.ACK).length;
      loader.child.stdin.write(`${cmd}\n`);
      const ack = await waitFor(`ACK for ${cmd}`, () => loader.frames.filter((f) => f.type === FRAME.ACK)[before]);
      return ack.payload.readInt32LE(0);
    };
    try {
      await waitFor('initial attach', () => (loader.linkState().get('cali11299111064')?.state === 1 ? true : undefined));
      // Created under a temporary name (as a CNI plugin may do), then renamed to cali…: attached on rename.
      await mustSh(['ip', '-n', ns, 'link', 'add', tmp, 'type', 'veth', 'peer', 'name', `p${tmp}`]);
      await mustSh(['ip', '-n', ns, 'link', 'set', tmp, 'name', cali]);
      const up = await waitFor(`${cali} attached after the rename`, () => loader.links().find((l) => l.name === cali && l.state === 1));
      assert.ok(!loader.links().some((l) => l.name === tmp && l.state === 1), 'not attached under the temporary name');
      // Renamed away from the patterns: detached.
      await mustSh(['ip', '-n', ns, 'link', 'set', cali, 'name', tmp]);
      await waitFor(`detached when renamed to ${tmp}`, () => loader.links().find((l) => l.ifindex === up.ifindex && l.state === 0));
      assert.deepEqual(await attachedPrograms(lab, tmp), []);

      // attach PATTERN: the temporary device matches now; detach PATTERN: it does not any more.
      assert.equal(await acked(`attach ${tmp}`), 0);
      assert.equal(loader.linkState().get(tmp)?.state, 1, 'attached by the time the ACK arrives');
      assert.equal((await attachedPrograms(lab, tmp)).length, 2);
      assert.equal(await acked(`detach ${tmp}`), 0);
      assert.equal(loader.linkState().get(tmp)?.state, 0, 'detached by the time the ACK arrives');
      assert.deepEqual(await attachedPrograms(lab, tmp), []);
      assert.equal(loader.linkState().get('cali11299111064')?.state, 1, 'the default patterns are untouched');
      assert.ok((await acked('detach nosuchpattern')) < 0, 'an unknown pattern is refused');
      assert.deepEqual(loader.errors(), []);
    } finally {
      loader.child.stdin.end();
      await loader.exited();
      await sh(['ip', '-n', ns, 'link', 'del', tmp]);
      await sh(['ip', '-n', ns, 'link', 'del', cali]);
    }
  });
});

function expectMatch(lines: string[], re: RegExp): string {
  const hit = lines.find((l) => re.test(l));
  assert.ok(hit, `expected a line matching ${re} in:\n${lines.join('\n')}`);
  return hit;
}
