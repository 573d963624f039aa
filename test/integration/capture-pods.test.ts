// Pods come and go while tracing: a new pod's interface is attached within milliseconds (measured from
// the kernel's RTM_NEWLINK as seen by `ip monitor` to the loader's LINK frame, and printed), its first
// packet is traced; deleting a pod detaches its interface without any error and tracing goes on.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { labUp, labDown, randomPrefix, podAdd, podDel, calicoIfName, nodeNetns, LabInfo } from '../../src/lab';
import { withCapture, ping } from '../helpers/capture-lab';

let lab: LabInfo;
before(async () => {
  lab = await labUp({ prefix: randomPrefix() });
});
after(async () => {
  if (lab) await labDown({ prefix: lab.prefix });
});

/** Wall-clock ms at which each interface name first appeared in `ip monitor link` of the node. */
function watchLinks(netns: string): { firstSeen: Map<string, number>; ready: Promise<void>; stop: () => void } {
  const firstSeen = new Map<string, number>();
  const mon = spawn('ip', ['-n', netns, 'monitor', 'link'], { stdio: ['ignore', 'pipe', 'ignore'] });
  let buf = '';
  mon.stdout.setEncoding('utf8');
  mon.stdout.on('data', (text: string) => {
    const now = Date.now();
    buf += text;
    const lines = buf.split('\n');
    buf = lines.pop() ?? '';
    for (const line of lines) {
      const m = /^(?:\d+: )?([^:@\s]+)[@:]/.exec(line.replace(/^Deleted /, ''));
      if (m && !firstSeen.has(m[1])) firstSeen.set(m[1], now);
    }
  });
  const ready = new Promise<void>((r) => mon.on('spawn', () => setTimeout(r, 50)));
  return { firstSeen, ready, stop: () => mon.kill('SIGTERM') };
}

test('a pod added while tracing is attached within milliseconds and its first packet is traced; deleting it causes no error', async () => {
  const ns = 'ems';
  const name = 'late-arrival-7c9d5f4b8-x2k4q';
  const ip = '10.233.101.240';
  const ifname = calicoIfName(ns, name);
  const links = watchLinks(nodeNetns(lab.prefix, 'node1'));
  try {
    await links.ready;
    await withCapture(lab, {}, async (cap, log) => {
      const restartsBefore = cap.counters().loaderRestarts;
      await podAdd({ prefix: lab.prefix, node: 'node1', namespace: ns, name, ip });
      const attached = await log.until(`LINK attached for ${ifname}`, () =>
        log.links.find((l) => l.link.name === ifname && l.link.state === 'attached'),
      );
      const appeared = await log.until(`ip monitor to report ${ifname}`, () => links.firstSeen.get(ifname));
      const latency = attached.at - appeared;
      console.log(`# new pod interface ${ifname}: attached ${latency} ms after the kernel announced it (target: within 100 ms)`);

      // The very first packet the new pod sends is traced at its interface.
      await ping(lab, ip, '10.233.101.222', 1);
      const first = await log.waitFor(`the new pod's first echo at ${ifname} ingress`, (e) => e.iface === ifname && e.dir === 'ingress' && e.src === ip && e.proto === 1);
      assert.equal(first[0].icmpSeq, 1, 'echo seq 1 (the first packet) was traced');
      assert.equal(first[0].kernel?.iface, 'cali11299111064');
      await log.waitFor('the reply leaving through the new interface', (e) => e.iface === ifname && e.dir === 'egress' && e.dst === ip);

      await podDel({ prefix: lab.prefix, ip });
      await log.until(`LINK detached for ${ifname}`, () => log.links.find((l) => l.link.name === ifname && l.link.state === 'detached'));
      assert.ok(!cap.links().some((l) => l.name === ifname), 'the deleted interface is no longer listed as attached');

      // Tracing continues, untroubled.
      await ping(lab, '10.233.101.222', '10.233.101.224', 1);
      await log.waitFor('traffic between the remaining pods', (e) => e.iface === 'caliaa479e31ff6' && e.dir === 'egress' && e.src === '10.233.101.222');
      assert.deepEqual(log.errors, []);
      assert.deepEqual(log.loaderErrors, [], 'the loader reported no error for the vanished interface');
      assert.equal(cap.counters().loaderRestarts, restartsBefore, 'the loader did not restart');
    });
  } finally {
    links.stop();
  }
});
