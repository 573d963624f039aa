// Golden bytes: the record the C side writes (`calitrace-loader --golden`) decodes in TypeScript to the
// values documented in docs/protocol.md, field by field. Expected values are typed in from the document.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { FrameParser } from '../../src/capture/frames';
import { decodeRecord, forEachRecord, newDecodeContext } from '../../src/capture/decode';
import { defaultLoaderPath } from '../../src/capture/loader-process';
import type { TraceEvent } from '../../src/capture/event';
import { assertDocumentedGolden } from '../helpers/golden';

function golden(): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    execFile(defaultLoaderPath(), ['--golden'], { encoding: 'buffer' }, (err, stdout) => (err ? reject(err) : resolve(stdout)));
  });
}

test('calitrace-loader --golden decodes to the documented values', async () => {
  const bytes = await golden();
  assert.equal(bytes.length, 224, 'one EVENTS frame: 16 + 8 + 200 bytes');
  const frames: { type: number; seq: number; payload: Buffer }[] = [];
  const parser = new FrameParser((type, seq, buf, off, len) => frames.push({ type, seq, payload: Buffer.from(buf.subarray(off, off + len)) }));
  parser.push(bytes);
  assert.equal(frames.length, 1);
  assert.equal(frames[0].type, 2, 'EVENTS');
  assert.equal(frames[0].seq, 0);

  const ctx = newDecodeContext();
  ctx.linkNames.set(74565, 'golden-if');
  ctx.linkNames.set(43981, 'golden-fib-if');
  const events: TraceEvent[] = [];
  const offsets: number[] = [];
  const count = forEachRecord(frames[0].payload, 0, frames[0].payload.length, (b, off) => {
    offsets.push(off);
    events.push(decodeRecord(b, off, ctx, undefined, 200));
  });
  assert.equal(count, 1);
  const ev = events[0];
  assertDocumentedGolden(ev, { iface: 'golden-if', fibIface: 'golden-fib-if' });

  // packets, bytes and drop_reason only surface for flow / drop records: flip the kind byte (offset 64
  // per the document) of the loader's own bytes and decode again.
  const rec = Buffer.from(frames[0].payload.subarray(offsets[0], offsets[0] + 200));
  rec[64] = 2;
  const flow = decodeRecord(rec, 0, ctx);
  assert.equal(flow.kind, 'flow');
  assert.equal(flow.packets, 7);
  assert.equal(flow.bytes, 4294967811);
  rec[64] = 3;
  ctx.dropReasons.set(77, 'GOLDEN_REASON');
  const drop = decodeRecord(rec, 0, ctx);
  assert.equal(drop.kind, 'drop');
  assert.equal(drop.dropReason, 77);
  assert.equal(drop.dropReasonName, 'GOLDEN_REASON');
});

test('the TypeScript layout of the record is generated from the BPF object (one definition: bpf/event.h)', async () => {
  const { EVENT_OFFSETS, EVENT_RECORD_SIZE } = await import('../../src/capture/generated/event-layout');
  const bytes = await golden();
  assert.equal(bytes.readUInt32LE(20), EVENT_RECORD_SIZE, 'the loader writes records of the generated size');
  // The case fields of the golden record sit where the generated offsets say.
  const rec = bytes.subarray(24);
  assert.equal(rec.readBigUInt64LE(EVENT_OFFSETS.caseId), 0xc0ffee0011223344n);
  assert.equal(rec.readBigUInt64LE(EVENT_OFFSETS.prevCase), 0x0badcafe55667788n);
  assert.equal(rec.readUInt32LE(EVENT_OFFSETS.epoch), 0x00070809);
  assert.equal(rec.readUInt16LE(EVENT_OFFSETS.tunDport), 4789);
  const ev = decodeRecord(bytes, 24, newDecodeContext(), undefined, EVENT_RECORD_SIZE);
  assert.equal(ev.caseId, 'c0ffee0011223344');
  assert.equal(ev.prevCase, '0badcafe55667788');
  assert.equal(ev.epoch, 460809);
});
