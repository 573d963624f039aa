// Golden bytes: the records the C side writes (`calitrace-loader --golden`, one of each shape) decode in
// TypeScript to the values documented in docs/protocol.md, field by field. Expected values are typed in
// from the document.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { FrameParser } from '../../src/capture/frames';
import { decodeRecord, forEachRecord, newDecodeContext } from '../../src/capture/decode';
import { defaultLoaderPath } from '../../src/capture/loader-process';
import type { TraceEvent } from '../../src/capture/event';
import { assertDocumentedGoldens, GOLDEN_SHAPES } from '../helpers/golden';

function golden(): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    execFile(defaultLoaderPath(), ['--golden'], { encoding: 'buffer' }, (err, stdout) => (err ? reject(err) : resolve(stdout)));
  });
}

test('calitrace-loader --golden decodes to the documented values, one record of each shape', async () => {
  const bytes = await golden();
  assert.equal(bytes.length, 704, 'one EVENTS frame: 16 + 8 + 680 bytes');
  const frames: { type: number; seq: number; payload: Buffer }[] = [];
  const parser = new FrameParser((type, seq, buf, off, len) => frames.push({ type, seq, payload: Buffer.from(buf.subarray(off, off + len)) }));
  parser.push(bytes);
  assert.equal(frames.length, 1);
  assert.equal(frames[0].type, 2, 'EVENTS');
  assert.equal(frames[0].seq, 0);

  const ctx = newDecodeContext();
  ctx.linkNames.set(74565, 'golden-if');
  ctx.linkNames.set(43981, 'golden-fib-if');
  ctx.dropReasons.set(77, 'GOLDEN_REASON');
  const events: TraceEvent[] = [];
  const sizes: number[] = [];
  const count = forEachRecord(frames[0].payload, 0, frames[0].payload.length, (b, off, size) => {
    sizes.push(size);
    events.push(decodeRecord(b, off, ctx, undefined, size));
  });
  assert.equal(count, 7);
  assert.deepEqual(sizes, GOLDEN_SHAPES.map((s) => s.size), 'the documented record sizes');
  assertDocumentedGoldens(events, { iface: 'golden-if', fibIface: 'golden-fib-if' });
});

test('the TypeScript layout of the record is generated from the BPF object (one definition: bpf/event.h)', async () => {
  const layout = await import('../../src/capture/generated/event-layout');
  const bytes = await golden();
  assert.equal(bytes.readUInt32LE(20), layout.REC_BASE_SIZE, 'the loader writes records on the generated base size');
  // Record 4 (case mode) carries the case part right after its base, where the generated offsets say.
  let off = 24;
  for (let i = 0; i < 3; i++) off += bytes.readUInt16LE(off + layout.REC.size);
  assert.equal(bytes[off + layout.REC.parts], layout.PART.CASE);
  const part = off + layout.REC_BASE_SIZE;
  assert.equal(bytes.readBigUInt64LE(part + layout.REC_CASE.caseId), 0xc0ffee0011223344n);
  assert.equal(bytes.readBigUInt64LE(part + layout.REC_CASE.prevCase), 0x0badcafe55667788n);
  assert.equal(bytes.readUInt32LE(part + layout.REC_CASE.epoch), 0x00070809);
  assert.equal(layout.REC_BASE_SIZE + layout.PART_SIZES.reduce((a, b) => a + b, 0), layout.REC_MAX_SIZE, 'the parts tile struct ct_rec_max');
});
