// `calitrace observe --write`: verdict items from a server started with --snaplen, into pcapng. Each hop
// that carries a snapshot becomes a packet block on its interface — one interface block per node and
// interface, so a capture from several nodes keeps them apart — with the same comment as
// `calitrace trace --write`.
import { calitrace } from '../api/proto';
import { PcapngWriter } from './writer';
import { CommentHop, CommentVerdict, interfaceFor, verdictComments } from './verdict-writer';

const V = calitrace.v1;

export interface ObserveWriterCounters {
  /** Packet blocks written. */
  written: number;
  /** Verdicts with no snapshot on any hop (the server runs without --snaplen, or the kernel lost them). */
  verdictsWithoutBytes: number;
}

export class ObservePcapWriter {
  readonly counters: ObserveWriterCounters = { written: 0, verdictsWithoutBytes: 0 };

  /** `snaplen`: keep at most this many bytes of what the server sent (0: all of it). */
  constructor(
    private readonly writer: PcapngWriter,
    private readonly snaplen = 0,
  ) {}

  /** One Observe item; anything but a verdict is ignored. */
  item(m: calitrace.v1.IObserveResponse): void {
    const v = m.verdict;
    if (!v) return;
    const hops: CommentHop[] = (v.observed ?? []).map((h) => ({
      iface: h.interface ?? '',
      dir: h.direction === V.Direction.DROP ? 'drop' : h.direction === V.Direction.EGRESS ? 'egress' : 'ingress',
      dropReason: h.dropReason || undefined,
    }));
    const cv: CommentVerdict = {
      verdict: V.Verdict[v.verdict ?? 0],
      reason: v.reason ?? '',
      predicted: v.predicted ?? [],
      observed: hops,
      warnings: v.warnings ?? [],
      fingerprint: v.fingerprint ?? '',
    };
    let any = false;
    let comments: string[] | undefined;
    (v.observed ?? []).forEach((h, i) => {
      const s = h.snapshot;
      if (!s || !s.data || s.data.length === 0) return;
      any = true;
      const node = m.node ?? '';
      const cap = this.snaplen ? Math.min(this.snaplen, s.snaplen || this.snaplen) : (s.snaplen ?? 0);
      const data = Buffer.from(s.data.subarray(0, cap || s.data.length));
      const id = this.writer.interfaceId(interfaceFor({ iface: hops[i].iface, link: s.link === 'raw' ? 'raw' : 'ethernet' }, node, cap));
      this.writer.packet({
        interfaceId: id,
        timestampNs: BigInt(Number(h.timeNs ?? 0)) + BigInt(Math.round(Number(s.realtimeOffsetNs ?? 0))),
        data,
        originalLength: s.wireLength ?? s.data.length,
        direction: hops[i].dir === 'drop' ? 'unknown' : hops[i].dir === 'ingress' ? 'inbound' : 'outbound',
        comments: [(comments ??= verdictComments(cv, hops))[i]],
      });
      this.counters.written++;
    });
    if (!any) this.counters.verdictsWithoutBytes++;
  }
}
