// A pcapng writer (https://www.ietf.org/archive/id/draft-ietf-opsawg-pcapng-02.html): one Section Header
// Block, an Interface Description Block the first time an interface is used, then Enhanced Packet Blocks
// with nanosecond timestamps, the direction flag and a comment. Little-endian throughout (the byte-order
// magic says so to readers); every block and option padded to 32 bits. It knows nothing of verdicts.

export const BLOCK = { SHB: 0x0a0d0d0a, IDB: 0x00000001, EPB: 0x00000006 } as const;
export const BYTE_ORDER_MAGIC = 0x1a2b3c4d;
/** LINKTYPE_ETHERNET and LINKTYPE_RAW (IPv4 or IPv6 by the version nibble). */
export const LINKTYPE = { ethernet: 1, raw: 101 } as const;
export type LinkType = keyof typeof LINKTYPE;

const OPT_END = 0;
const OPT_COMMENT = 1;
const SHB_HARDWARE = 2;
const SHB_OS = 3;
const SHB_USERAPPL = 4;
const IF_NAME = 2;
const IF_DESCRIPTION = 3;
const IF_TSRESOL = 9;
const IF_OS = 12;
const EPB_FLAGS = 2;

/** epb_flags bits 0-1. */
export const DIRECTION = { unknown: 0, inbound: 1, outbound: 2 } as const;
export type PacketDirection = keyof typeof DIRECTION;

export interface SectionInfo {
  application: string;
  os?: string;
  hardware?: string;
}

export interface InterfaceInfo {
  name: string;
  link: LinkType;
  snaplen: number;
  description?: string;
  /** if_os: where the interface lives (we put the node name there). */
  os?: string;
}

export interface PacketInfo {
  interfaceId: number;
  /** Nanoseconds since the Unix epoch (if_tsresol = 9). */
  timestampNs: bigint;
  data: Buffer;
  /** The packet's length on the wire (≥ data.length). */
  originalLength: number;
  direction?: PacketDirection;
  comments?: string[];
}

type Option = { code: number; value: Buffer };

const pad4 = (n: number) => (4 - (n % 4)) % 4;

function optionsBytes(opts: Option[]): Buffer {
  if (opts.length === 0) return Buffer.alloc(0);
  const parts: Buffer[] = [];
  for (const o of opts) {
    const h = Buffer.alloc(4);
    h.writeUInt16LE(o.code, 0);
    h.writeUInt16LE(o.value.length, 2);
    parts.push(h, o.value, Buffer.alloc(pad4(o.value.length)));
  }
  parts.push(Buffer.alloc(4)); // opt_endofopt: code 0, length 0
  return Buffer.concat(parts);
}

function text(code: number, s: string): Option {
  // An option's length is 16 bits: a longer comment is cut (at a character boundary).
  let b = Buffer.from(s, 'utf8');
  if (b.length > 65535) b = Buffer.from(b.subarray(0, 65532).toString('utf8').replace(/\uFFFD$/, ''), 'utf8');
  return { code, value: b };
}

/** type, total length, body, total length again. */
function block(type: number, body: Buffer): Buffer {
  const total = 12 + body.length;
  const out = Buffer.alloc(total);
  out.writeUInt32LE(type, 0);
  out.writeUInt32LE(total, 4);
  body.copy(out, 8);
  out.writeUInt32LE(total, total - 4);
  return out;
}

export function sectionHeaderBlock(s: SectionInfo): Buffer {
  const fixed = Buffer.alloc(16);
  fixed.writeUInt32LE(BYTE_ORDER_MAGIC, 0);
  fixed.writeUInt16LE(1, 4); // major
  fixed.writeUInt16LE(0, 6); // minor
  fixed.writeInt32LE(-1, 8); // section length: not known (a stream)
  fixed.writeInt32LE(-1, 12);
  const opts: Option[] = [];
  if (s.hardware) opts.push(text(SHB_HARDWARE, s.hardware));
  if (s.os) opts.push(text(SHB_OS, s.os));
  opts.push(text(SHB_USERAPPL, s.application));
  return block(BLOCK.SHB, Buffer.concat([fixed, optionsBytes(opts)]));
}

export function interfaceBlock(i: InterfaceInfo): Buffer {
  const fixed = Buffer.alloc(8);
  fixed.writeUInt16LE(LINKTYPE[i.link], 0);
  fixed.writeUInt16LE(0, 2);
  fixed.writeUInt32LE(i.snaplen, 4);
  const opts: Option[] = [text(IF_NAME, i.name)];
  if (i.description) opts.push(text(IF_DESCRIPTION, i.description));
  opts.push({ code: IF_TSRESOL, value: Buffer.from([9]) }); // 10^-9 s
  if (i.os) opts.push(text(IF_OS, i.os));
  return block(BLOCK.IDB, Buffer.concat([fixed, optionsBytes(opts)]));
}

export function enhancedPacketBlock(p: PacketInfo): Buffer {
  // Built in one allocation: this runs once per packet per hook.
  const comments = (p.comments ?? []).map((c) => text(OPT_COMMENT, c).value);
  const flags = p.direction && p.direction !== 'unknown' ? DIRECTION[p.direction] : 0;
  let optLen = 0;
  for (const c of comments) optLen += 4 + c.length + pad4(c.length);
  if (flags) optLen += 8;
  if (optLen) optLen += 4; // opt_endofopt
  const dataLen = p.data.length;
  const total = 12 + 20 + dataLen + pad4(dataLen) + optLen;
  const b = Buffer.allocUnsafe(total);
  b.writeUInt32LE(BLOCK.EPB, 0);
  b.writeUInt32LE(total, 4);
  b.writeUInt32LE(p.interfaceId, 8);
  b.writeUInt32LE(Number((p.timestampNs >> 32n) & 0xffffffffn), 12);
  b.writeUInt32LE(Number(p.timestampNs & 0xffffffffn), 16);
  b.writeUInt32LE(dataLen, 20);
  b.writeUInt32LE(Math.max(p.originalLength, dataLen), 24);
  p.data.copy(b, 28);
  let o = 28 + dataLen;
  b.fill(0, o, o + pad4(dataLen));
  o += pad4(dataLen);
  for (const c of comments) {
    b.writeUInt16LE(OPT_COMMENT, o);
    b.writeUInt16LE(c.length, o + 2);
    c.copy(b, o + 4);
    o += 4 + c.length;
    b.fill(0, o, o + pad4(c.length));
    o += pad4(c.length);
  }
  if (flags) {
    b.writeUInt16LE(EPB_FLAGS, o);
    b.writeUInt16LE(4, o + 2);
    b.writeUInt32LE(flags, o + 4);
    o += 8;
  }
  if (optLen) {
    b.writeUInt32LE(0, o); // opt_endofopt
    o += 4;
  }
  b.writeUInt32LE(total, o);
  return b;
}

/**
 * A pcapng stream: the section header at once, an interface block the first time a (name, link type)
 * is used, packets as they come. `out` receives whole blocks, so a reader never sees half a block.
 */
export class PcapngWriter {
  private readonly ids = new Map<string, number>();
  packets = 0;
  bytes = 0;

  constructor(
    private readonly out: (block: Buffer) => void,
    section: SectionInfo,
  ) {
    this.emit(sectionHeaderBlock(section));
  }

  /** The interface's id, writing its IDB when it is new. */
  interfaceId(i: InterfaceInfo): number {
    const key = `${i.name}\0${i.link}\0${i.os ?? ''}`;
    let id = this.ids.get(key);
    if (id === undefined) {
      id = this.ids.size;
      this.ids.set(key, id);
      this.emit(interfaceBlock(i));
    }
    return id;
  }

  packet(p: PacketInfo): void {
    this.packets++;
    this.emit(enhancedPacketBlock(p));
  }

  private emit(b: Buffer): void {
    this.bytes += b.length;
    this.out(b);
  }
}
