// Latency percentiles with bounded memory. A flow that saw few packets keeps its exact samples; past
// EXACT_LIMIT the samples fold into buckets, 4 per power of two (quarter octaves, linear inside each
// octave, so a percentile is within ±12.5 % and usually much closer).
//
// Memory is what decides the layout: the flow table holds up to 100 000 flows with a histogram per
// direction and per egress hop, and most flows are short. So a histogram is two fields — the count and
// the samples — where the samples are the one number itself for a single sample, a list up to
// EXACT_LIMIT, and past that only the range of buckets this flow's latencies actually fall in (one
// flow's latencies span a few octaves, not the 36 the scale covers).
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

/** Past EXACT_LIMIT samples: counts for buckets lo, lo + 1, … (only the range seen so far), and the extremes. */
class Folded {
  counts: number[] = [];
  lo = 0;
  minNs: number;
  maxNs: number;

  constructor(samples: number[]) {
    this.minNs = samples[0];
    this.maxNs = samples[0];
    this.lo = bucketOf(samples[0]);
    for (const ns of samples) this.add(ns);
  }

  add(ns: number): void {
    if (ns > this.maxNs) this.maxNs = ns;
    if (ns < this.minNs) this.minNs = ns;
    const b = bucketOf(ns);
    const counts = this.counts;
    if (b < this.lo) {
      // A faster sample than any before: widen the range downwards (rare once a flow has settled).
      const grown: number[] = [];
      for (let i = b; i < this.lo; i++) grown.push(0);
      for (const n of counts) grown.push(n);
      this.counts = grown;
      this.lo = b;
      grown[0]++;
      return;
    }
    const i = b - this.lo;
    while (counts.length <= i) counts.push(0);
    counts[i]++;
  }
}

export class LatencyHistogram {
  private count = 0;
  /** count 1: the sample; 2 … EXACT_LIMIT: the samples; past that: the buckets. */
  private data: number | number[] | Folded = 0;

  get samples(): number {
    return this.count;
  }

  add(ns: number): void {
    if (!(ns >= 0)) return;
    const n = ++this.count;
    if (n === 1) this.data = ns;
    else if (n === 2) this.data = [this.data as number, ns];
    else if (n <= EXACT_LIMIT) (this.data as number[]).push(ns);
    else if (n === EXACT_LIMIT + 1) {
      const samples = this.data as number[];
      samples.push(ns);
      this.data = new Folded(samples);
    } else (this.data as Folded).add(ns);
  }

  /** Percentile q in [0, 1], in ns. */
  quantileNs(q: number): number {
    if (this.count === 0) return 0;
    if (this.count === 1) return this.data as number;
    if (this.count <= EXACT_LIMIT) {
      const sorted = [...(this.data as number[])].sort((a, b) => a - b);
      const idx = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
      return sorted[idx];
    }
    const f = this.data as Folded;
    const rank = Math.max(1, Math.ceil(q * this.count));
    let seen = 0;
    for (let i = 0; i < f.counts.length; i++) {
      seen += f.counts[i];
      if (seen >= rank) return Math.min(f.maxNs, Math.max(f.minNs, bucketValue(f.lo + i)));
    }
    return f.maxNs;
  }

  private maxNs(): number {
    if (this.count === 0) return 0;
    if (this.count === 1) return this.data as number;
    if (this.count <= EXACT_LIMIT) return Math.max(...(this.data as number[]));
    return (this.data as Folded).maxNs;
  }

  summary(): LatencySummary {
    const us = (ns: number) => Math.round(ns / 10) / 100;
    return {
      samples: this.count,
      p50: us(this.quantileNs(0.5)),
      p90: us(this.quantileNs(0.9)),
      p99: us(this.quantileNs(0.99)),
      max: us(this.maxNs()),
    };
  }
}
