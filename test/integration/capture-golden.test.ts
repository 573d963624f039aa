// Golden bytes: the record the C side writes (`calitrace-loader --golden`) decodes in TypeScript to the
// values documented in docs/protocol.md, field by field. Expected values are typed in from the document.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { FrameParser } from '../../src/capture/frames';
import { decodeRecord, forEachRecord, newDecodeContext } from '../../src/capture/decode';
import { defaultLoaderPath } from '../../src/capture/loader-process';
import type { TraceEvent } from '../../src/capture/event';

function golden(): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    execFile(defaultLoaderPath(), ['--golden'], { encoding: 'buffer' }, (err, stdout) => (err ? reject(err) : resolve(stdout)));
  });
}

test('calitrace-loader --golden decodes to the documented values', async () => {
  const bytes = await golden();
  assert.equal(bytes.length, 200, 'one EVENTS frame: 16 + 8 + 176 bytes');
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
    events.push(decodeRecord(b, off, ctx));
  });
  assert.equal(count, 1);
  const ev = events[0];
  assert.equal(ev.timeNs, 0x000a0b0c0d0e0f10); // ts_ns (see capture-decode.test.ts on the doc's decimal)
  assert.equal(ev.fingerprint, '8877665544332211');
  assert.equal(ev.ifindex, 74565);
  assert.equal(ev.iface, 'golden-if');
  assert.equal(ev.len, 1514);
  assert.equal(ev.mark, 3390163473);
  assert.deepEqual(ev.anomalies, ['fragment', 'non_first_fragment']);
  assert.equal(ev.ipId, 48879);
  assert.equal(ev.kind, 'packet');
  assert.equal(ev.dir, 'ingress');
  assert.equal(ev.family, 4);
  assert.equal(ev.proto, 6);
  assert.equal(ev.tcpFlags, 0x12);
  assert.equal(ev.ttl, 63);
  assert.equal(ev.icmpType, 11);
  assert.equal(ev.icmpCode, 12);
  assert.equal(ev.sport, 43981);
  assert.equal(ev.dport, 443);
  assert.equal(ev.icmpId, 3342);
  assert.equal(ev.icmpSeq, 3856);
  assert.equal(ev.vlan, 100);
  assert.equal(ev.src, '10.233.101.222');
  assert.equal(ev.dst, '10.233.100.130');
  assert.deepEqual(ev.kernel, { result: 7, resultName: 'no_neigh', ifindex: 43981, iface: 'golden-fib-if', nexthop: '10.233.100.128' });
  assert.deepEqual(ev.tunnel, { outerSrc: '172.27.71.11', outerDst: '172.27.71.12', vni: 4096, udpSport: 49374, udpDport: 4789 });
  assert.equal(ev.dropReason, undefined, 'kind packet: a TraceEvent carries no drop reason');

  // packets, bytes and drop_reason only surface for flow / drop records: flip the kind byte (offset 64
  // per the document) of the loader's own bytes and decode again.
  const rec = Buffer.from(frames[0].payload.subarray(offsets[0], offsets[0] + 176));
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
