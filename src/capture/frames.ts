// Cuts the loader's stdout byte stream into frames (docs/protocol.md). A pipe hands us arbitrary
// chunks, so a frame may be split across any number of them; complete frames inside a chunk are passed
// on in place (no copy), and only a frame that straddles chunks is assembled in a reusable buffer.
//
// The stream has no resynchronisation point: once a header is wrong (magic, version, absurd length,
// out-of-order sequence), everything after it is unreadable, so that is a FrameError and the caller
// must stop reading this loader's output.
import { EVENTS_HDR, FRAME, FRAME_HDR_SIZE, FrameType, FRAME_MAGIC, FRAME_MAX_PAYLOAD, FRAME_TYPE_NAMES, PROTOCOL_VERSION } from './wire';

export class FrameError extends Error {}

/** Receives one frame. `buf` is only valid during the call: its bytes may be reused afterwards. */
export type FrameSink = (type: number, seq: number, buf: Buffer, payloadOff: number, payloadLen: number) => void;

export class FrameParser {
  /** Bytes of a frame that started in an earlier chunk. */
  private pending: Buffer = Buffer.allocUnsafe(64 * 1024);
  private pendingLen = 0;
  /** Stream offset of the next byte, for error messages. */
  private offset = 0;
  private nextSeq = 0;
  private failed: FrameError | undefined;

  constructor(private readonly sink: FrameSink) {}

  /** Total bytes consumed so far. */
  get bytes(): number {
    return this.offset;
  }

  /** True while part of a frame is buffered (at loader exit: a cut frame). */
  get midFrame(): boolean {
    return this.pendingLen > 0;
  }

  /** Records in an EVENTS frame cut off by the end of the stream (a crashed loader), when its header
   * arrived; 0 otherwise. */
  cutRecords(): number {
    if (this.pendingLen < FRAME_HDR_SIZE + 4) return 0;
    if (this.pending.readUInt16LE(FRAME.type) !== FrameType.EVENTS) return 0;
    return this.pending.readUInt32LE(FRAME_HDR_SIZE + EVENTS_HDR.count);
  }

  push(chunk: Buffer): void {
    if (this.failed) throw this.failed;
    let pos = 0;
    if (this.pendingLen > 0) {
      pos = this.fillPending(chunk);
      if (pos < 0) return; // chunk fully absorbed, frame still incomplete
    }
    // Frames that lie entirely within this chunk: no copy.
    while (chunk.length - pos >= FRAME_HDR_SIZE) {
      const length = this.checkHeader(chunk, pos);
      const total = FRAME_HDR_SIZE + length;
      if (chunk.length - pos < total) break;
      this.deliver(chunk, pos, length);
      pos += total;
    }
    if (pos < chunk.length) this.append(chunk, pos, chunk.length);
  }

  /** Completes the buffered frame from `chunk`; returns the chunk position after it, or -1. */
  private fillPending(chunk: Buffer): number {
    let pos = 0;
    if (this.pendingLen < FRAME_HDR_SIZE) {
      const take = Math.min(FRAME_HDR_SIZE - this.pendingLen, chunk.length);
      this.append(chunk, 0, take);
      pos = take;
      if (this.pendingLen < FRAME_HDR_SIZE) return -1;
    }
    const length = this.checkHeader(this.pending, 0);
    const total = FRAME_HDR_SIZE + length;
    const take = Math.min(total - this.pendingLen, chunk.length - pos);
    this.append(chunk, pos, pos + take);
    pos += take;
    if (this.pendingLen < total) return -1;
    this.pendingLen = 0;
    this.deliver(this.pending, 0, length);
    return pos;
  }

  private append(src: Buffer, start: number, end: number): void {
    const need = this.pendingLen + (end - start);
    if (need > this.pending.length) {
      const bigger = Buffer.allocUnsafe(Math.max(need, this.pending.length * 2));
      this.pending.copy(bigger, 0, 0, this.pendingLen);
      this.pending = bigger;
    }
    src.copy(this.pending, this.pendingLen, start, end);
    this.pendingLen = need;
  }

  /** Validates the header at buf[pos]; returns the payload length. */
  private checkHeader(buf: Buffer, pos: number): number {
    const at = this.offset; // frames are contiguous: the current one starts after the last delivered
    const magic = buf.readUInt32LE(pos + FRAME.magic);
    if (magic !== FRAME_MAGIC) {
      const got = buf.subarray(pos, pos + 4).toString('hex').replace(/(..)(?!$)/g, '$1 ');
      this.fail(
        `corrupt loader stream at byte ${at}: expected frame magic 54 43 54 52 ("TCTR"), got ${got}. ` +
          `Something else wrote to the loader's stdout, or the stream lost bytes; restart the capture.`,
      );
    }
    const version = buf.readUInt16LE(pos + FRAME.version);
    if (version !== PROTOCOL_VERSION) {
      this.fail(
        `the loader speaks frame protocol v${version} but this collector speaks v${PROTOCOL_VERSION}: ` +
          `rebuild both from the same checkout (npm run build).`,
      );
    }
    const length = buf.readUInt32LE(pos + FRAME.length);
    if (length > FRAME_MAX_PAYLOAD) {
      const type = buf.readUInt16LE(pos + FRAME.type);
      this.fail(
        `corrupt loader stream at byte ${at}: ${FRAME_TYPE_NAMES[type] ?? `type ${type}`} frame claims ${length} payload bytes ` +
          `(limit ${FRAME_MAX_PAYLOAD}); restart the capture.`,
      );
    }
    return length;
  }

  private deliver(buf: Buffer, pos: number, length: number): void {
    const seq = buf.readUInt32LE(pos + FRAME.seq);
    if (seq !== this.nextSeq) {
      this.fail(
        `corrupt loader stream at byte ${this.offset}: frame sequence ${seq} where ${this.nextSeq} was due ` +
          `(${seq > this.nextSeq ? `${seq - this.nextSeq} frames missing` : 'repeated frame'}); restart the capture.`,
      );
    }
    this.nextSeq = (seq + 1) >>> 0;
    this.offset += FRAME_HDR_SIZE + length;
    this.sink(buf.readUInt16LE(pos + FRAME.type), seq, buf, pos + FRAME_HDR_SIZE, length);
  }

  private fail(message: string): never {
    this.failed = new FrameError(message);
    throw this.failed;
  }
}
