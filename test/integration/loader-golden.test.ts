// C side of the golden-bytes contract (an integration test: it runs the built loader). The bytes
// `calitrace-loader --golden` writes must sit at the
// offsets, with the widths and values, that docs/protocol.md documents. Offsets, types and expected
// values are all read from the document's tables (not from bpf/event.h), so a change to the C struct
// that the document does not follow fails here.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';

const root = path.resolve(__dirname, '../../..');
const loader = path.join(root, 'bpf/.output/calitrace-loader');
const protocolDoc = readFileSync(path.join(root, 'docs/protocol.md'), 'utf8');

interface FieldRow {
  off: number;
  type: string;
  field: string;
}

/** Rows `| off | type | field | … |` of the markdown table that follows `heading`. */
function tableAfter(heading: string): string[][] {
  const start = protocolDoc.indexOf(heading);
  assert.ok(start >= 0, `docs/protocol.md has no "${heading}" section`);
  const rows: string[][] = [];
  let inTable = false;
  for (const line of protocolDoc.slice(start).split('\n').slice(1)) {
    if (line.startsWith('|')) {
      inTable = true;
      const cells = line.split('|').slice(1, -1).map((c) => c.trim());
      if (cells.every((c) => /^-*:?-+:?$/.test(c))) continue; // separator row
      rows.push(cells);
    } else if (inTable) {
      break;
    }
  }
  return rows.slice(1); // drop the header row
}

function recordLayout(): FieldRow[] {
  return tableAfter('### Event record').map(([off, type, field]) => ({ off: Number(off), type, field }));
}

function goldenValues(): Map<string, string> {
  return new Map(tableAfter('## Golden record').map(([field, value]) => [field, value]));
}

/** The documented value as bytes of the field's width (little-endian integers, raw addresses). */
function expectedBytes(type: string, value: string): Buffer {
  const first = value.replace(/`/g, '').trim().split(/\s+/)[0];
  if (type === '16B') {
    const out = Buffer.alloc(16);
    const parts = first.split('.').map(Number);
    assert.equal(parts.length, 4, `golden address ${first} is dotted IPv4`);
    Buffer.from(parts).copy(out, 0);
    return out;
  }
  const width = { u8: 1, u16: 2, u32: 4, u64: 8 }[type];
  assert.ok(width, `unknown type ${type} in docs/protocol.md`);
  const n = first.startsWith('0x') ? BigInt(first) : BigInt(first.match(/^\d+/)![0]);
  const out = Buffer.alloc(width);
  if (width === 8) out.writeBigUInt64LE(n);
  else out.writeUIntLE(Number(n), 0, width);
  return out;
}

test('calitrace-loader --golden writes the frame and record documented in docs/protocol.md', () => {
  const bytes = execFileSync(loader, ['--golden']);
  assert.equal(bytes.length, 16 + 8 + 200, 'one EVENTS frame holding one 200-byte record');

  // Frame header and EVENTS header, per the document's tables.
  assert.deepEqual([...bytes.subarray(0, 4)], [0x54, 0x43, 0x54, 0x52], 'magic bytes');
  assert.equal(bytes.readUInt16LE(4), 1, 'version');
  assert.equal(bytes.readUInt16LE(6), 2, 'type EVENTS');
  assert.equal(bytes.readUInt32LE(8), 8 + 200, 'payload length');
  assert.equal(bytes.readUInt32LE(12), 0, 'seq of the first frame');
  assert.equal(bytes.readUInt32LE(16), 1, 'count');
  assert.equal(bytes.readUInt32LE(20), 200, 'record_size');

  const record = bytes.subarray(24);
  const layout = recordLayout();
  const values = goldenValues();
  let covered = 0;
  for (const row of layout) {
    const width = row.type === '16B' ? 16 : { u8: 1, u16: 2, u32: 4, u64: 8 }[row.type]!;
    const actual = record.subarray(row.off, row.off + width);
    if (row.field.startsWith('_pad')) {
      assert.ok(actual.every((b) => b === 0), `${row.field} at ${row.off} is zero`);
      continue;
    }
    const documented = values.get(row.field);
    assert.ok(documented !== undefined, `golden table documents ${row.field}`);
    assert.deepEqual(actual, expectedBytes(row.type, documented), `${row.field} at offset ${row.off}`);
    covered += width;
  }
  // The layout table tiles the record exactly: no gap, no overlap, nothing beyond 200 bytes.
  let next = 0;
  for (const row of layout) {
    assert.equal(row.off, next, `${row.field} starts where the previous field ends`);
    next += row.type === '16B' ? 16 : { u8: 1, u16: 2, u32: 4, u64: 8 }[row.type]!;
  }
  assert.equal(next, 200);
  assert.ok(covered > 160, 'all non-padding fields checked');
});

test('calitrace-loader --golden-snap writes exactly the SNAP frame docs/protocol.md dumps', () => {
  const m = /```golden-snap\n([\s\S]*?)```/.exec(protocolDoc);
  assert.ok(m, 'docs/protocol.md has the golden SNAP dump');
  const documented = Buffer.from(m[1].replace(/\s+/g, ''), 'hex');
  const out = execFileSync(loader, ['--golden-snap']);
  assert.deepEqual(out, documented);
  assert.equal(out.length, 136);
});
