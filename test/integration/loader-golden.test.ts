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

/** Rows `| … |` of the markdown table that follows the line starting at `start`. */
function tableAt(start: number): string[][] {
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

function tableAfter(heading: string): string[][] {
  const start = protocolDoc.indexOf(heading);
  assert.ok(start >= 0, `docs/protocol.md has no "${heading}" section`);
  return tableAt(start);
}

const layoutOf = (rows: string[][]): FieldRow[] => rows.map(([off, type, field]) => ({ off: Number(off), type, field }));

function width(type: string): number {
  const w = { u8: 1, u16: 2, u32: 4, u64: 8 }[type] ?? (/^(\d+)B$/.test(type) ? Number(type.slice(0, -1)) : undefined);
  assert.ok(w, `unknown type ${type} in docs/protocol.md`);
  return w;
}

/** The record's parts as documented: `### Part NAME (bit N, SIZE bytes, …)` and the table below it. */
function documentedParts(): { name: string; bit: number; size: number; layout: FieldRow[] }[] {
  const parts: { name: string; bit: number; size: number; layout: FieldRow[] }[] = [];
  const re = /^### Part (\w+) \(bit (\d+), (\d+) bytes/gm;
  for (let m = re.exec(protocolDoc); m; m = re.exec(protocolDoc)) {
    parts.push({ name: m[1], bit: Number(m[2]), size: Number(m[3]), layout: layoutOf(tableAt(m.index)) });
  }
  return parts.sort((x, y) => x.bit - y.bit);
}

function ipv6Bytes(text: string): Buffer {
  const [head, tail] = text.includes('::') ? text.split('::') : [text, undefined];
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const groups = tail === undefined ? h : [...h, ...Array(8 - h.length - t.length).fill('0'), ...t];
  assert.equal(groups.length, 8, `golden address ${text} has 8 groups`);
  const out = Buffer.alloc(16);
  groups.forEach((g, i) => out.writeUInt16BE(parseInt(g, 16), 2 * i));
  return out;
}

/** The documented value as bytes of the field's width (little-endian integers, raw addresses); '' is 0. */
function expectedBytes(type: string, value: string): Buffer {
  const w = width(type);
  const out = Buffer.alloc(w);
  const v = value.replace(/`/g, '').trim();
  if (v === '') return out;
  if (type.endsWith('B')) {
    if (v.includes(':')) ipv6Bytes(v).copy(out);
    else Buffer.from(v.split('.').map(Number)).copy(out);
    return out;
  }
  const n = BigInt(v);
  if (w === 8) out.writeBigUInt64LE(n);
  else out.writeUIntLE(Number(n), 0, w);
  return out;
}

/** Every field of a layout at its offset, checked against the golden table's cell for record `r`. */
function checkFields(rec: Buffer, at: number, layout: FieldRow[], prefix: string, values: Map<string, string[]>, r: number): number {
  let covered = 0;
  for (const row of layout) {
    const actual = rec.subarray(at + row.off, at + row.off + width(row.type));
    if (row.field.startsWith('_pad')) {
      assert.ok(actual.every((b) => b === 0), `record ${r + 1}: ${prefix}${row.field} is zero`);
      continue;
    }
    const cells = values.get(prefix + row.field);
    assert.ok(cells, `golden table documents ${prefix}${row.field}`);
    assert.deepEqual(actual, expectedBytes(row.type, cells[r]), `record ${r + 1}: ${prefix}${row.field} at offset ${at + row.off}`);
    covered++;
  }
  return covered;
}

/** The layout table tiles its struct exactly: no gap, no overlap, `size` bytes. */
function assertTiles(layout: FieldRow[], size: number, what: string): void {
  let next = 0;
  for (const row of layout) {
    assert.equal(row.off, next, `${what}: ${row.field} starts where the previous field ends`);
    next += width(row.type);
  }
  assert.equal(next, size, `${what} is ${size} bytes`);
}

test('calitrace-loader --golden writes the frame and records documented in docs/protocol.md', () => {
  const bytes = execFileSync(loader, ['--golden']);
  const base = layoutOf(tableAfter('### Record base (72 bytes'));
  const parts = documentedParts();
  const values = new Map(tableAfter('## Golden records').map(([field, ...cells]) => [field, cells]));
  const sizes = values.get('size')!.map(Number);
  const total = sizes.reduce((a, b) => a + b, 0);
  assert.equal(bytes.length, 16 + 8 + total, `one EVENTS frame holding ${sizes.length} records`);

  // Frame header and EVENTS header, per the document's tables.
  assert.deepEqual([...bytes.subarray(0, 4)], [0x54, 0x43, 0x54, 0x52], 'magic bytes');
  assert.equal(bytes.readUInt16LE(4), 2, 'version');
  assert.equal(bytes.readUInt16LE(6), 2, 'type EVENTS');
  assert.equal(bytes.readUInt32LE(8), 8 + total, 'payload length');
  assert.equal(bytes.readUInt32LE(12), 0, 'seq of the first frame');
  assert.equal(bytes.readUInt32LE(16), sizes.length, 'count');
  assert.equal(bytes.readUInt32LE(20), 72, 'base_size');

  assertTiles(base, 72, 'the record base');
  assert.deepEqual(parts.map((p) => [p.name, p.bit]), [['ip6', 0], ['fib', 1], ['tun', 2], ['case', 3], ['counts', 4], ['drop', 5]]);
  for (const p of parts) assertTiles(p.layout, p.size, `part ${p.name}`);

  let off = 24;
  let covered = 0;
  sizes.forEach((size, r) => {
    const rec = bytes.subarray(off, off + size);
    covered += checkFields(rec, 0, base, '', values, r);
    const set = Number(values.get('parts')![r]);
    let at = 72;
    for (const p of parts) {
      if (!(set & (1 << p.bit))) {
        for (const row of p.layout) assert.equal(values.get(`${p.name}.${row.field}`)?.[r] ?? '', '', `record ${r + 1} has no ${p.name} part: its cells are empty`);
        continue;
      }
      covered += checkFields(rec, at, p.layout, `${p.name}.`, values, r);
      at += p.size;
    }
    assert.equal(at, size, `record ${r + 1}: its parts end where the record does`);
    off += size;
  });
  assert.equal(off, bytes.length, 'the records tile the frame');
  assert.ok(covered > 7 * 25, 'every non-padding field of every record checked');
});

test('calitrace-loader --golden-snap writes exactly the SNAP frame docs/protocol.md dumps', () => {
  const m = /```golden-snap\n([\s\S]*?)```/.exec(protocolDoc);
  assert.ok(m, 'docs/protocol.md has the golden SNAP dump');
  const documented = Buffer.from(m[1].replace(/\s+/g, ''), 'hex');
  const out = execFileSync(loader, ['--golden-snap']);
  assert.deepEqual(out, documented);
  assert.equal(out.length, 136);
});
