// The collector's memo of route predictions: packets of one flow ask the route model the same question,
// so it is answered once per model generation.
//
// Keyed by ingress device, then source, then destination (plus, rarely, the mark and the fields only
// some policy rules read): the strings come from the decoder, one object per distinct address or device,
// so a lookup hashes nothing new and allocates nothing — a key string joined per packet cost more than
// the rest of the lookup.
//
// Bounded by two generations instead of a clear-all or a delete-oldest: answers go into the young table;
// when it holds its share, it becomes the old one and the previous old one is dropped. An answer found
// only in the old table is moved back into the young one, so the questions still being asked survive
// every turn (least-recently-asked goes first, at O(1) per lookup), and a table never walks its deleted
// slots.
import type { Prediction } from '../routing/types';

type ByDst = Map<string, Prediction>;
type BySrc = Map<string, ByDst>;
type Table = Map<string, BySrc>;

export class PredictionCache {
  private young: Table = new Map();
  private old: Table = new Map();
  private youngSize = 0;
  private generation = -1;
  private readonly share: number;

  /** At most `max` answers are kept (two tables of max / 2). */
  constructor(max: number) {
    this.share = Math.max(1, Math.floor(max / 2));
  }

  /**
   * The answer for this question under this model generation, if known. `extra` distinguishes questions
   * that differ in more than devices and addresses ('' when nothing else matters).
   */
  get(generation: number, iif: string, src: string, dst: string, extra: string): Prediction | undefined {
    if (generation !== this.generation) {
      this.young = new Map();
      this.old = new Map();
      this.youngSize = 0;
      this.generation = generation;
      return undefined;
    }
    const key = extra === '' ? dst : `${dst}|${extra}`;
    const hit = this.young.get(iif)?.get(src)?.get(key);
    if (hit) return hit;
    const old = this.old.get(iif)?.get(src)?.get(key);
    if (old) this.put(iif, src, key, old);
    return old;
  }

  /** Remembers the answer (after a get() for the same generation missed). */
  set(iif: string, src: string, dst: string, extra: string, p: Prediction): void {
    this.put(iif, src, extra === '' ? dst : `${dst}|${extra}`, p);
  }

  get size(): number {
    let n = 0;
    for (const t of [this.young, this.old]) for (const bySrc of t.values()) for (const byDst of bySrc.values()) n += byDst.size;
    return n;
  }

  private put(iif: string, src: string, key: string, p: Prediction): void {
    if (this.youngSize >= this.share) {
      this.old = this.young;
      this.young = new Map();
      this.youngSize = 0;
    }
    let bySrc = this.young.get(iif);
    if (!bySrc) this.young.set(iif, (bySrc = new Map()));
    let byDst = bySrc.get(src);
    if (!byDst) bySrc.set(src, (byDst = new Map()));
    if (!byDst.has(key)) this.youngSize++;
    byDst.set(key, p);
  }
}
