// SNAP frames (docs/protocol.md "SNAP"): src/capture/snap.ts decodes the document's dump to the values the
// document lists. That the loader writes exactly this dump is checked with the loader's own golden test in
// test/integration/loader-golden.test.ts (it needs the built BPF side).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { FrameParser } from '../../src/capture/frames';
import { newDecodeContext } from '../../src/capture/decode';
import { decodeSnapFrame, SNAP_FRAME_TYPE, SnapFormatError } from '../../src/capture/snap';

const root = path.resolve(__dirname, '../../..');
const doc = readFileSync(path.join(root, 'docs/protocol.md'), 'utf8');

function documentedDump(): Buffer {
  const m = /```golden-snap\n([\s\S]*?)```/.exec(doc);
  assert.ok(m, 'docs/protocol.md has the golden SNAP dump');
  return Buffer.from(m[1].replace(/\s+/g, ''), 'hex');
}

test('snap.ts decodes the documented frame to the documented values', () => {
  const ctx = newDecodeContext();
  ctx.linkNames.set(0x12345, 'cali11299111064');
  ctx.dropReasons.set(77, 'IP_INNOHDRS');
  const frames: { type: number; buf: Buffer; off: number; len: number }[] = [];
  new FrameParser((type, _seq, buf, off, len) => frames.push({ type, buf, off, len })).push(documentedDump());
  assert.equal(frames.length, 1);
  assert.equal(frames[0].type, SNAP_FRAME_TYPE);
  const f = decodeSnapFrame(frames[0].buf, frames[0].off, frames[0].len, ctx);
  assert.equal(f.snaplen, 128);
  assert.equal(f.lostTotal, 3);
  assert.equal(f.snapshots.length, 2);
  const [a, b] = f.snapshots;
  assert.deepEqual({ ...a, data: a.data.toString('hex') }, {
    timeNs: 0x000a0b0c0d0e0f10, fingerprint: '8877665544332211', ifindex: 0x12345, iface: 'cali11299111064', dir: 'egress',
    link: 'ethernet', wireLen: 1514, data: 'eeeeeeeeeeee6275e86053f00800',
  });
  assert.deepEqual({ ...b, data: b.data.toString('hex') }, {
    timeNs: 0x100000002, fingerprint: '0102030405060708', ifindex: 7, iface: 'if7', dir: 'drop', link: 'raw', wireLen: 84,
    data: '4500005400004000400100000ae965de0ae965e6', dropReason: 77, dropReasonName: 'IP_INNOHDRS',
  });
});

test('snap.ts refuses a frame whose snapshots run past its end', () => {
  const dump = documentedDump();
  const payload = dump.subarray(16);
  assert.throws(() => decodeSnapFrame(payload, 0, payload.length - 8, newDecodeContext()), SnapFormatError);
  const lying = Buffer.from(payload);
  lying.writeUInt32LE(3, 0); // three snapshots claimed, two present
  assert.throws(() => decodeSnapFrame(lying, 0, lying.length, newDecodeContext()), /says 3 snapshots but ends after 2/);
});
