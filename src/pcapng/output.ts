// Where a pcapng stream goes: a file, or stdout for `--write -` (e.g. `| wireshark -k -i -`). Blocks are
// queued on the stream; a reader that falls more than `maxBufferedBytes` behind loses whole blocks,
// counted, instead of the trace growing without bound.
import * as fs from 'node:fs';

export interface PcapOutput {
  write(block: Buffer): void;
  /** Blocks not written because the reader was too far behind. */
  readonly dropped: number;
  /** Flushes and closes (stdout is only flushed). */
  close(): Promise<void>;
  /** The first write error (a closed pipe, a full disk), if any. */
  readonly error: Error | undefined;
}

export function openPcapOutput(target: string, maxBufferedBytes = 64 << 20): PcapOutput {
  // Opened here, synchronously, so a bad path is an error before the trace starts.
  const stream: NodeJS.WritableStream & { writableLength: number } = target === '-' ? process.stdout : fs.createWriteStream(target, { fd: fs.openSync(target, 'w') });
  let dropped = 0;
  let error: Error | undefined;
  let started = false;
  stream.on('error', (e: Error) => (error ??= e));
  // Blocks of one event-loop turn go out as one write: a packet block is ~200 bytes, a syscall each would
  // cost more than building it.
  let batch: Buffer[] = [];
  let batchBytes = 0;
  const flush = () => {
    if (batch.length === 0) return;
    const chunk = batch.length === 1 ? batch[0] : Buffer.concat(batch, batchBytes);
    batch = [];
    batchBytes = 0;
    if (!error) stream.write(chunk);
  };
  return {
    write(block) {
      if (error) return;
      // The section header and interface blocks are never dropped: the file would be unreadable.
      if (started && stream.writableLength + batchBytes > maxBufferedBytes && block.readUInt32LE(0) === 6) {
        dropped++;
        return;
      }
      started = true;
      if (batch.length === 0) setImmediate(flush);
      batch.push(block);
      batchBytes += block.length;
      if (batchBytes >= 256 << 10) flush();
    },
    get dropped() {
      return dropped;
    },
    get error() {
      return error;
    },
    close: () =>
      new Promise<void>((resolve) => {
        flush();
        if (target === '-') {
          if (stream.writableLength === 0 || error) resolve();
          else stream.once('drain', () => resolve());
          return;
        }
        (stream as fs.WriteStream).end(() => resolve());
      }),
  };
}
