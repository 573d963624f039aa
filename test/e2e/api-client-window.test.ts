// The client's HTTP/2 receive window against the size of what a subscriber is sent. A server may only
// send as many bytes as the client's window allows before the client acknowledges them; a batch bigger
// than the window waits a round trip to the client and back, and on a busy node every round trip costs
// event-loop turns on both sides (docs/benchmarks.md, issue 10 latency: with grpc-js's 64 KiB default a
// packet-mode subscriber got 0.6–2.2 k verdicts/s and seconds of latency). Measured here on the wire: a
// plain HTTP/2 server (node:http2, not grpc-js) reads the SETTINGS and WINDOW_UPDATE a real
// CalitraceClient sends, and the batch is a real ObserveResponse of BATCH lab-shaped verdicts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as http2 from 'node:http2';
import * as os from 'node:os';
import * as path from 'node:path';
import { BATCH, CalitraceClient, ClientOptions, ObserveMessage } from '../../src/api/client';
import { calitrace } from '../../src/api/proto';
import { startTestApi, verdict } from '../helpers/api';

/** Bytes of one full batch of packet-mode verdicts, as the server encodes it for a batching subscriber. */
async function batchBytes(): Promise<number> {
  const t = await startTestApi({ hub: { historyCapacity: BATCH } });
  try {
    for (let i = 0; i < BATCH; i++) {
      t.feed.verdict(
        verdict('10.233.101.224', 'MATCHED', {
          proto: 17, sport: 40000 + i, dport: 5201, len: 110, generation: 3, decision: 'unicast',
          reason: 'left via caliaa479e31ff6 as the route model predicted',
          route: '10.233.101.224 dev caliaa479e31ff6 scope link',
          flowKey: `17|10.233.101.222|${40000 + i}|10.233.101.224|5201`,
          kernel: { result: 'success', iface: 'caliaa479e31ff6' },
          predicted: ['caliaa479e31ff6'],
          observed: [
            { iface: 'cali11299111064', dir: 'ingress', timeNs: 1_000_000 + i },
            { iface: 'caliaa479e31ff6', dir: 'egress', timeNs: 1_020_000 + i },
          ],
        }),
      );
    }
    // The raw call: the iterator would hand the batch's items out one by one.
    const stream = t.client().observe({ allHistory: true, batch: BATCH });
    const m = await new Promise<ObserveMessage>((resolve, reject) => {
      stream.call.once('data', resolve);
      stream.call.once('error', reject);
    });
    stream.cancel();
    assert.equal(m.batch.length, BATCH, 'one message carries the whole batch');
    return calitrace.v1.ObserveResponse.encode(m).finish().length;
  } finally {
    await t.close();
  }
}

/** The receive windows a CalitraceClient announces: per stream (SETTINGS) and for the connection. */
async function windowsOf(options: Partial<ClientOptions>): Promise<{ stream: number; connection: number }> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ct-window-'));
  const sock = path.join(dir, 'h2.sock');
  const server = http2.createServer();
  const seen = new Promise<{ stream: number; connection: number }>((resolve) => {
    server.on('stream', (stream) => {
      const session = stream.session!;
      // grpc-js sends its WINDOW_UPDATE for the connection before it opens the first stream.
      resolve({ stream: session.remoteSettings.initialWindowSize ?? 65535, connection: session.state.remoteWindowSize ?? 65535 });
      stream.respond({ ':status': 200, 'content-type': 'application/grpc', 'grpc-status': '12' }, { endStream: true });
    });
  });
  await new Promise<void>((r) => server.listen(sock, r));
  const client = new CalitraceClient({ server: `unix:${sock}`, ...options });
  try {
    await client.status(5000).catch(() => undefined); // answered UNIMPLEMENTED: only the handshake matters
    return await seen;
  } finally {
    client.close();
    await new Promise<void>((r) => server.close(() => r()));
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

test('a subscriber client takes several full batches of verdicts before it must acknowledge any', async () => {
  const batch = await batchBytes();
  const w = await windowsOf({});
  // The server's write queue holds 16 messages: a few whole batches in flight keep it from waiting on
  // every message for the client's acknowledgement.
  assert.ok(w.stream >= 4 * batch, `stream window ${w.stream} B holds fewer than 4 batches of ${batch} B`);
  assert.ok(w.connection >= 4 * batch, `connection window ${w.connection} B holds fewer than 4 batches of ${batch} B`);
});

test("grpc-js's own 64 KiB window does not hold one batch: what a client gets without the larger default", async () => {
  const batch = await batchBytes();
  const w = await windowsOf({ flowControlWindow: 65535 });
  assert.equal(w.stream, 65535);
  assert.ok(w.stream < batch, `a ${batch} B batch fits the ${w.stream} B window after all`);
});
