// The pcapng writer against bytes written out by hand from the pcapng specification's block layouts
// (draft-ietf-opsawg-pcapng §4.1 SHB, §4.2 IDB, §4.3 EPB, §3.5 options) — not from the writer.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PcapngWriter, enhancedPacketBlock } from '../../src/pcapng/writer';

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');

// SHB: type 0x0A0D0D0A, total length 48, byte-order magic 0x1A2B3C4D, version 1.0, section length -1,
// shb_userappl (4) "calitrace" (9 bytes + 3 padding), opt_endofopt, total length again.
const SHB = hex(`
  0a0d0d0a 30000000 4d3c2b1a 0100 0000 ffffffff ffffffff
  0400 0900 63616c69747261636500 0000
  0000 0000
  30000000`);

// IDB: type 1, total length 56, LINKTYPE_ETHERNET (1), reserved, snaplen 128, if_name (2) "cali1",
// if_tsresol (9) = 9 (nanoseconds), if_os (12) "node1", opt_endofopt, total length again.
const IDB = hex(`
  01000000 38000000 0100 0000 80000000
  0200 0500 63616c6931 000000
  0900 0100 09 000000
  0c00 0500 6e6f646531 000000
  0000 0000
  38000000`);

// EPB: type 6, total length 60, interface 0, timestamp 0x00000001_00000002 (high, low), captured 5,
// original 60, data + 3 bytes padding, opt_comment (1) "ok", epb_flags (2) = 2 (outbound),
// opt_endofopt, total length again.
const EPB = hex(`
  06000000 3c000000 00000000 01000000 02000000 05000000 3c000000
  deadbeef01 000000
  0100 0200 6f6b 0000
  0200 0400 02000000
  0000 0000
  3c000000`);

test('pcapng: SHB, IDB and EPB are byte for byte what the specification lays out', () => {
  const out: Buffer[] = [];
  const w = new PcapngWriter((b) => out.push(b), { application: 'calitrace' });
  assert.deepEqual(out[0], SHB);
  const id = w.interfaceId({ name: 'cali1', link: 'ethernet', snaplen: 128, os: 'node1' });
  assert.equal(id, 0);
  assert.deepEqual(out[1], IDB);
  w.packet({ interfaceId: 0, timestampNs: 0x0000000100000002n, data: hex('deadbeef01'), originalLength: 60, direction: 'outbound', comments: ['ok'] });
  assert.deepEqual(out[2], EPB);
  assert.equal(w.bytes, SHB.length + IDB.length + EPB.length);
});

test('pcapng: one IDB per interface and link type, ids in order of first use', () => {
  const out: Buffer[] = [];
  const w = new PcapngWriter((b) => out.push(b), { application: 'calitrace' });
  assert.equal(w.interfaceId({ name: 'ens3', link: 'ethernet', snaplen: 128 }), 0);
  assert.equal(w.interfaceId({ name: 'cali1', link: 'ethernet', snaplen: 128 }), 1);
  assert.equal(w.interfaceId({ name: 'ens3', link: 'ethernet', snaplen: 128 }), 0);
  // A drop on the same device is raw IP (no L2 header): its own IDB, link type 101.
  assert.equal(w.interfaceId({ name: 'cali1', link: 'raw', snaplen: 128 }), 2);
  assert.equal(out.length, 4);
  assert.equal(out[3].readUInt32LE(0), 1);
  assert.equal(out[3].readUInt16LE(8), 101);
});

test('pcapng: an inbound packet without comment has only epb_flags = 1; no direction, no flags option', () => {
  const inbound = enhancedPacketBlock({ interfaceId: 3, timestampNs: 5n, data: hex('0102030405060708'), originalLength: 8, direction: 'inbound' });
  assert.deepEqual(inbound, hex(`
    06000000 34000000 03000000 00000000 05000000 08000000 08000000
    0102030405060708
    0200 0400 01000000
    0000 0000
    34000000`));
  const none = enhancedPacketBlock({ interfaceId: 0, timestampNs: 0n, data: Buffer.alloc(0), originalLength: 0 });
  assert.deepEqual(none, hex('06000000 20000000 00000000 00000000 00000000 00000000 00000000 20000000'));
});

test('pcapng: a comment longer than an option can hold is cut, and the block stays 32-bit aligned', () => {
  const b = enhancedPacketBlock({ interfaceId: 0, timestampNs: 0n, data: hex('aa'), originalLength: 1, comments: ['é'.repeat(40000)] });
  assert.equal(b.length % 4, 0);
  assert.equal(b.readUInt32LE(4), b.length);
  assert.equal(b.readUInt32LE(b.length - 4), b.length);
  const optLen = b.readUInt16LE(28 + 4 + 2);
  assert.ok(optLen <= 65535 && optLen % 2 === 0, `comment option of ${optLen} bytes holds whole characters`);
});
