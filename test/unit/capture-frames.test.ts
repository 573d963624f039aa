// The frame parser against streams built from docs/protocol.md: frames split across chunks at every
// possible boundary arrive whole and in order; corrupt headers stop the stream with a clear error.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FrameParser, FrameError } from '../../src/capture/frames';
import { frame, record, eventsPayload, helloPayload, linkPayload, ip4 } from '../helpers/wire-builder';

interface Seen {
  type: number;
  seq: number;
  payload: string;
}

function collect(): { parser: FrameParser; seen: Seen[] } {
  const seen: Seen[] = [];
  const parser = new FrameParser((type, seq, buf, off, len) => {
    // Copy: the parser only promises the bytes during the call.
    seen.push({ type, seq, payload: buf.subarray(off, off + len).toString('hex') });
  });
  return { parser, seen };
}

function sampleStream(): { bytes: Buffer; frames: Seen[] } {
  const payloads: [number, Buffer][] = [
    [1, helloPayload({ reasons: [[2, 'NOT_SPECIFIED'], [5, 'TCP_CSUM']] })],
    [4, linkPayload(7, 'cali11299111064', 1)],
    [2, eventsPayload([record({ ifindex: 7, src: ip4('10.233.101.222'), dst: ip4('10.233.101.224'), proto: 1 }), record({ ifindex: 8 })])],
    [7, Buffer.alloc(0)], // empty payload (BYE)
    [99, Buffer.from('future frame type')],
    [2, eventsPayload([record({ ifindex: 9, tsNs: 123n })])],
  ];
  const frames = payloads.map(([type, p], seq) => ({ type, seq, payload: p.toString('hex') }));
  return { bytes: Buffer.concat(payloads.map(([type, p], seq) => frame(type, seq, p))), frames };
}

test('whole stream in one chunk yields every frame in order', () => {
  const { bytes, frames } = sampleStream();
  const { parser, seen } = collect();
  parser.push(bytes);
  assert.deepEqual(seen, frames);
  assert.equal(parser.bytes, bytes.length);
  assert.equal(parser.midFrame, false);
});

test('one byte per chunk yields the same frames', () => {
  const { bytes, frames } = sampleStream();
  const { parser, seen } = collect();
  for (let i = 0; i < bytes.length; i++) parser.push(bytes.subarray(i, i + 1));
  assert.deepEqual(seen, frames);
});

test('every two-chunk split point yields the same frames', () => {
  const { bytes, frames } = sampleStream();
  for (let cut = 1; cut < bytes.length; cut++) {
    const { parser, seen } = collect();
    parser.push(bytes.subarray(0, cut));
    parser.push(bytes.subarray(cut));
    assert.deepEqual(seen, frames, `split at byte ${cut}`);
  }
});

test('random chunkings (seeded) yield the same frames', () => {
  const { bytes, frames } = sampleStream();
  let seed = 12345;
  const rnd = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff);
  for (let round = 0; round < 200; round++) {
    const { parser, seen } = collect();
    let pos = 0;
    while (pos < bytes.length) {
      const n = 1 + Math.floor(rnd() * 300);
      parser.push(bytes.subarray(pos, pos + n));
      pos += n;
    }
    assert.deepEqual(seen, frames, `round ${round}`);
  }
});

test('a frame larger than the reassembly buffer is reassembled', () => {
  const recs = Array.from({ length: 1500 }, (_, i) => record({ ifindex: i + 1 })); // ~105 KiB of 72-byte records
  const big = frame(2, 0, eventsPayload(recs));
  const { parser, seen } = collect();
  for (let pos = 0; pos < big.length; pos += 4096) parser.push(big.subarray(pos, pos + 4096));
  assert.equal(seen.length, 1);
  assert.equal(seen[0].payload.length / 2, 8 + 1500 * 72);
});

test('a cut EVENTS frame reports how many records it carried', () => {
  const f = frame(2, 0, eventsPayload([record({}), record({}), record({})]));
  const { parser, seen } = collect();
  parser.push(f.subarray(0, 100));
  assert.equal(seen.length, 0);
  assert.equal(parser.midFrame, true);
  assert.equal(parser.cutRecords(), 3);
});

test('wrong magic is a FrameError naming the bytes seen, and the parser stays failed', () => {
  const { parser } = collect();
  const good = frame(4, 0, linkPayload(1, 'eth0', 1));
  const bad = Buffer.from('hello world, not a frame');
  parser.push(good);
  assert.throws(() => parser.push(bad), (err: Error) => {
    assert.ok(err instanceof FrameError);
    assert.match(err.message, /corrupt loader stream at byte 32/);
    assert.match(err.message, /expected frame magic 54 43 54 52/);
    assert.match(err.message, /got 68 65 6c 6c/);
    return true;
  });
  assert.throws(() => parser.push(good), FrameError);
});

test('a different protocol version says to rebuild', () => {
  const { parser } = collect();
  assert.throws(() => parser.push(frame(1, 0, helloPayload({}), { version: 1 })), /protocol v1 but this collector speaks v2: rebuild/);
});

test('an absurd length is corruption, reported before waiting for the bytes', () => {
  const { parser } = collect();
  const hdr = frame(2, 0, Buffer.alloc(0));
  hdr.writeUInt32LE(64 * 1024 * 1024, 8);
  assert.throws(() => parser.push(hdr), /EVENTS frame claims 67108864 payload bytes/);
});

test('a sequence gap is reported as missing frames', () => {
  const { parser, seen } = collect();
  parser.push(frame(4, 0, linkPayload(1, 'a', 1)));
  assert.throws(() => parser.push(frame(4, 3, linkPayload(2, 'b', 1))), /frame sequence 3 where 1 was due \(2 frames missing\)/);
  assert.equal(seen.length, 1);
});

test('a header split across chunks is validated once complete', () => {
  const { parser } = collect();
  const f = frame(4, 0, linkPayload(1, 'a', 1), { magic: 0x11223344 });
  parser.push(f.subarray(0, 3));
  assert.throws(() => parser.push(f.subarray(3)), /expected frame magic/);
});
