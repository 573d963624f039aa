// Latency percentiles with bounded memory. A flow that saw few packets keeps its exact samples; past
// EXACT_LIMIT the samples fold into buckets, 4 per power of two (quarter octaves, linear inside each
// octave, so a percentile is within ±12.5 % and usually much closer),
// which caps a busy flow at one small typed array however long it runs.
import type { LatencySummary } from './types';

const EXACT_LIMIT = 16;
const BUCKETS_PER_OCTAVE = 4;
// 2^36 ns ≈ 69 s: anything slower than that is not a forwarding latency.
const BUCKET_COUNT = 36 * BUCKETS_PER_OCTAVE;

function bucketOf(ns: number): number {
  if (ns < 1) return 0;
  if (ns < 0x80000000) {
    // Integer log2 plus the next two bits of the value: the same buckets as log2(ns) * 4 rounded down
    // to quarter octaves on a linear scale within each octave, without a floating-point log per sample.
    const v = ns >>> 0;
    const octave = 31 - Math.clz32(v);
    const sub = octave >= 2 ? (v >>> (octave - 2)) & 3 : octave === 1 ? (v & 1) << 1 : 0;
    return octave * BUCKETS_PER_OCTAVE + sub;
  }
  const octave = Math.floor(Math.log2(ns));
  const sub = Math.min(3, Math.floor((ns / Math.pow(2, octave) - 1) * BUCKETS_PER_OCTAVE));
  return Math.min(BUCKET_COUNT - 1, octave * BUCKETS_PER_OCTAVE + sub);
}

/** Middle of a bucket, in ns: octave o, quarter q covers [2^o·(1 + q/4), 2^o·(1 + (q+1)/4)). */
function bucketValue(b: number): number {
  const octave = Math.floor(b / BUCKETS_PER_OCTAVE);
  const q = b % BUCKETS_PER_OCTAVE;
  return Math.pow(2, octave) * (1 + (q + 0.5) / BUCKETS_PER_OCTAVE);
}

export class LatencyHistogram {
  private exact: number[] | undefined = [];
  private buckets: Uint32Array | undefined;
  private count = 0;
  private maxNs = 0;
  private minNs = Infinity;

  get samples(): number {
    return this.count;
  }

  add(ns: number): void {
    if (!(ns >= 0)) return;
    this.count++;
    if (ns > this.maxNs) this.maxNs = ns;
    if (ns < this.minNs) this.minNs = ns;
    if (this.exact) {
      this.exact.push(ns);
      if (this.exact.length <= EXACT_LIMIT) return;
      this.buckets = new Uint32Array(BUCKET_COUNT);
      for (const v of this.exact) this.buckets[bucketOf(v)]++;
      this.exact = undefined;
      return;
    }
    this.buckets![bucketOf(ns)]++;
  }

  /** Percentile q in [0, 1], in ns. */
  quantileNs(q: number): number {
    if (this.count === 0) return 0;
    if (this.exact) {
      const sorted = [...this.exact].sort((a, b) => a - b);
      const idx = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
      return sorted[idx];
    }
    const rank = Math.max(1, Math.ceil(q * this.count));
    let seen = 0;
    const buckets = this.buckets!;
    for (let b = 0; b < buckets.length; b++) {
      seen += buckets[b];
      if (seen >= rank) return Math.min(this.maxNs, Math.max(this.minNs, bucketValue(b)));
    }
    return this.maxNs;
  }

  summary(): LatencySummary {
    const us = (ns: number) => Math.round(ns / 10) / 100;
    return {
      samples: this.count,
      p50: us(this.quantileNs(0.5)),
      p90: us(this.quantileNs(0.9)),
      p99: us(this.quantileNs(0.99)),
      max: us(this.count ? this.maxNs : 0),
    };
  }
}
