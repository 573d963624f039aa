// Backpressure with real lab traffic: `calitrace serve` judges a ping stream between two pods while a
// `calitrace observe -f` process is frozen (SIGSTOP) beside a fast library subscriber. The fast one gets
// every verdict the collector produced; the frozen one's queue stays at its cap, its losses are counted
// by the server, and after SIGCONT it prints a LOST notice with the count.
//
// The invariant at every stage: the collector's judged packets = verdicts published to the hub + those
// judged before the API existed; for each subscriber, the verdicts offered to it since it subscribed =
// sent + lost + queued. (A first version compared "judged" with what the fast subscriber got and failed
// with "judged 12001, fast subscriber got 12000 (lost 0)": a packet judged before the subscriber
// connected — an IPv6 router solicitation of a freshly created pod interface — was counted by the
// collector and published to the hub, just not to a subscriber that did not exist yet.)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { withLab } from '../helpers/lab';
import { labExec } from '../../src/lab';
import { BATCH, CalitraceClient } from '../../src/api/client';
import { calitrace } from '../../src/api/proto';
import { stopProcess, waitUntil } from '../helpers/api';

const BIN = path.resolve(__dirname, '..', '..', '..', 'bin', 'calitrace.js');
const QUEUE = 512;

function start(args: string[]): { proc: ChildProcess; output: () => string } {
  const proc = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  proc.stdout!.on('data', (d) => (out += d));
  proc.stderr!.on('data', (d) => (out += d));
  return { proc, output: () => out };
}

test('real traffic: a frozen observe process loses (counted, notified) while a fast subscriber gets every verdict', async () => {
  await withLab(async (lab) => {
    const node1 = lab.nodes.find((n) => n.id === 'node1')!;
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'calitrace-api-bp-'));
    const sock = `unix:${path.join(dir, 'api.sock')}`;
    // A verdict per packet is what floods the subscribers: packet mode, asked for.
    const server = start(['serve', '--netns', node1.netns, '--mode', 'packet', '--listen', sock, '--queue', String(QUEUE)]);
    const client = new CalitraceClient({ server: sock });
    let frozen: ReturnType<typeof start> | undefined;
    try {
      await waitUntil(() => /API on unix:/.test(server.output()) || server.proc.exitCode !== null, 'calitrace serve to listen', 30000);
      assert.match(server.output(), /API on unix:/, server.output());

      // The fast subscriber: every verdict, counted, nothing kept.
      let fastVerdicts = 0;
      let fastLost = 0;
      const fast = client.observe({ follow: true, batch: BATCH, allow: [{ eventType: [calitrace.v1.EventType.VERDICT] }] });
      const fastDone = (async () => {
        for await (const m of fast) {
          if (m.item === 'verdict') fastVerdicts++;
          else if (m.item === 'lost' && m.lost!.source === calitrace.v1.LostEvents.Source.SUBSCRIBER) fastLost += Number(m.lost!.count);
        }
      })().catch(() => undefined);

      // The frozen one: a real `calitrace observe -f` process, stopped right after it subscribed.
      frozen = start(['observe', '--server', sock, '-f', 'type=verdict']);
      await waitUntil(async () => (await client.status()).subscribers.length === 2, 'both subscribers');
      frozen.proc.kill('SIGSTOP');

      // ~1000 echo requests per second for 6 s: 12 000 verdicts (requests and replies).
      const ping = await labExec(lab.prefix, '10.233.101.222', ['ping', '-q', '-c', '6000', '-i', '0.001', '10.233.101.224']);
      assert.equal(ping.code, 0, ping.stderr);

      // Every verdict published since the fast subscriber connected reached it.
      let judged = 0;
      let offered = 0;
      await waitUntil(async () => {
        const s = await client.status();
        judged = Number(s.counters!.other!.packets); // map values decode as Long: Number() them
        const fastSub = s.subscribers.find((x) => x.filter === 'type=VERDICT' && Number(x.lost) === 0 && Number(x.queued) === 0);
        offered = Number(fastSub?.offered ?? -1);
        return judged >= 12000 && fastVerdicts === offered;
      }, 'the fast subscriber to have every verdict offered to it', 30000).catch((err) => {
        throw new Error(`${err.message}: judged ${judged}, offered to the fast subscriber ${offered}, it got ${fastVerdicts} (lost ${fastLost})`);
      });
      assert.equal(fastLost, 0);
      // The ping's 12 000 packets were all judged after the fast subscriber connected.
      assert.ok(offered >= 12000, `offered ${offered}`);
      {
        const s = await client.status();
        const other = s.counters!.other!;
        const packets = Number(other.packets);
        // Judged = published (+ judged before the API was up): nothing judged is dropped silently.
        assert.equal(packets, Number(other.verdicts_published) + Number(other.judged_before_api), JSON.stringify(other));
        // Each subscriber: offered = sent + lost + queued (nothing from history here).
        for (const sub of s.subscribers) {
          assert.equal(Number(sub.offered), Number(sub.sent) + Number(sub.lost) + Number(sub.queued), JSON.stringify(sub));
        }
      }

      // The frozen one: its queue is at the cap, the rest is counted as lost by the server.
      const status = await client.status();
      const frozenSub = status.subscribers.find((s) => s.filter === 'type=VERDICT' && Number(s.queued) > 0 && Number(s.lost) > 0);
      assert.ok(frozenSub, `a subscriber with a full queue and losses: ${JSON.stringify(status.subscribers)}`);
      assert.ok(Number(frozenSub!.queued) <= QUEUE, `queued ${frozenSub!.queued} > ${QUEUE}`);
      const lost = Number(frozenSub!.lost);
      assert.ok(lost > judged / 2, `lost ${lost} of ${judged}`);
      assert.equal(Number(status.counters!.lostSubscribers), lost);
      console.log(`# judged ${judged}; fast subscriber got ${fastVerdicts}; frozen: queued ${frozenSub!.queued}/${QUEUE}, lost ${lost}, sent ${frozenSub!.sent}`);

      // Thawed, it prints what was queued and then the notice with the count.
      frozen.proc.kill('SIGCONT');
      await waitUntil(() => /LOST \d+ events \(SUBSCRIBER/.test(frozen!.output()), 'the thawed observe to print the LOST notice', 20000);
      // Items published after the status call may add to the gap: at least what the server had counted.
      const printed = [...frozen.output().matchAll(/LOST (\d+) events \(SUBSCRIBER/g)].reduce((a, m) => a + Number(m[1]), 0);
      assert.ok(printed >= lost, `notices say ${printed} lost, the server counted ${lost}`);
      fast.cancel();
      await fastDone;
    } finally {
      client.close();
      if (frozen) await stopProcess(frozen.proc);
      const code = await stopProcess(server.proc);
      fs.rmSync(dir, { recursive: true, force: true });
      assert.equal(code, 0, server.output());
    }
  });
});
