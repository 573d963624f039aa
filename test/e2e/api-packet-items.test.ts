// Hook records become PACKET items only while a subscriber follows them: `calitrace serve` on a lab node,
// pings between two pods, real gRPC clients. With only a verdict subscriber, no hook record is published
// (none in the history either) and each is counted as not followed; once a PACKET subscriber follows, it
// gets every one published, none is skipped, and the counts add up: every hook record is either
// published or counted as not followed, and judged = verdicts published (+ judged before the API).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { withLab } from '../helpers/lab';
import { labExec } from '../../src/lab';
import { CalitraceClient, ObserveMessage } from '../../src/api/client';
import { calitrace } from '../../src/api/proto';
import { recordStream, stopProcess, waitUntil, startServe } from '../helpers/api';

const T = calitrace.v1.EventType;
const POD_A = '10.233.101.222';
const POD_B = '10.233.101.224';


/** Every item a one-shot Observe returns from the history. */
async function history(client: CalitraceClient, req: calitrace.v1.IObserveRequest): Promise<ObserveMessage[]> {
  const out: ObserveMessage[] = [];
  for await (const m of client.observe({ ...req, follow: false })) out.push(m);
  return out;
}

test('serve publishes hook records only while a subscriber follows PACKET items; the rest are counted, and every count adds up', async () => {
  await withLab(async (lab) => {
    const node1 = lab.nodes.find((n) => n.id === 'node1')!;
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'calitrace-api-packets-'));
    const sock = `unix:${path.join(dir, 'api.sock')}`;
    // Packet mode: a record at every hook for every packet, the most there can be.
    const server = startServe(['--netns', node1.netns, '--mode', 'packet', '--listen', sock]);
    const client = new CalitraceClient({ server: sock });
    const counters = async () => {
      const s = await client.status();
      const o = s.counters!.other!;
      return { status: s, published: Number(o.packet_items_published), unfollowed: Number(o.packet_items_unfollowed), judged: Number(o.packets), verdicts: Number(o.verdicts_published), before: Number(o.judged_before_api) };
    };
    const ping = async () => assert.equal((await labExec(lab.prefix, POD_A, ['ping', '-n', '-c', '10', '-i', '0.05', '-W', '1', POD_B])).code, 0);
    const ofPing = (ms: ObserveMessage[]) => ms.filter((m) => m.item === 'packet' && m.packet!.protocol === 1 && [POD_A, POD_B].includes(m.packet!.src ?? '') && [POD_A, POD_B].includes(m.packet!.dst ?? ''));
    try {
      await waitUntil(() => /API on unix:/.test(server.output()) || server.proc.exitCode !== null, 'calitrace serve to listen', 30000);
      assert.match(server.output(), /API on unix:/, server.output());

      // A verdict subscriber only: the pings are judged, their hook records are not published.
      const verdictStream = client.observe({ follow: true, batch: 256, allow: [{ eventType: [T.VERDICT] }] });
      const verdicts = recordStream(verdictStream);
      await waitUntil(async () => (await client.status()).subscribers.length === 1, 'the verdict subscriber');
      await ping();
      await waitUntil(async () => verdicts.filter((m) => m.item === 'verdict' && m.verdict!.protocol === 1).length >= 20, 'the 20 ping verdicts');
      const quiet = await counters();
      assert.equal(quiet.published, 0, 'nobody followed PACKET items: none published');
      // 10 requests and 10 replies, each seen on the way in (one cali) and out (the other).
      assert.ok(quiet.unfollowed >= 40, `hook records counted as not followed: ${quiet.unfollowed}`);
      assert.deepEqual(ofPing(await history(client, { allHistory: true, allow: [{ eventType: [T.PACKET] }] })), [], 'no hook record in the history');

      // A PACKET follower: from now on every hook record is published, and it gets each of them.
      const packets = recordStream(client.observe({ follow: true, batch: 256, allow: [{ eventType: [T.PACKET] }] }));
      await waitUntil(async () => (await client.status()).subscribers.length === 2, 'the packet follower');
      const followed = await counters();
      await ping();
      await waitUntil(async () => ofPing(packets).length >= 40, 'the ping\'s hook records at the follower');
      let after = await counters();
      // Everything published reached it (it is the only PACKET follower, connected before any was published).
      await waitUntil(async () => {
        after = await counters();
        return packets.filter((m) => m.item === 'packet').length === after.published;
      }, 'every published hook record at the follower').catch((err: Error) => {
        throw new Error(`${err.message}: published ${after.published}, the follower got ${packets.filter((m) => m.item === 'packet').length}`);
      });
      assert.equal(after.unfollowed, followed.unfollowed, 'no hook record skipped while a subscriber followed them');
      assert.ok(after.published >= 40, `published ${after.published}`);
      assert.equal(packets.filter((m) => m.item === 'lost').length, 0);
      // Now the history has them too.
      assert.ok(ofPing(await history(client, { allHistory: true, allow: [{ eventType: [T.PACKET] }] })).length >= 40);

      // The verdict invariant is untouched: judged = verdicts published + judged before the API.
      assert.equal(after.judged, after.verdicts + after.before, JSON.stringify(after.status.counters!.other));
      for (const sub of after.status.subscribers) {
        assert.equal(Number(sub.offered), Number(sub.sent) + Number(sub.lost) + Number(sub.queued), JSON.stringify(sub));
        assert.equal(Number(sub.lost), 0);
      }
      verdictStream.cancel();
    } finally {
      client.close();
      const code = await stopProcess(server.proc);
      fs.rmSync(dir, { recursive: true, force: true });
      assert.equal(code, 0, server.output());
    }
  });
});
