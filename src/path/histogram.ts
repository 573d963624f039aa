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

// Past EXACT_LIMIT samples, one list: the first bucket it covers, the extremes, then the count of each
// bucket from the first on (only the range seen so far). Lists are allocated at their size: one grown by
// push reserves room for 16 more entries, which is more than most flows ever use.
const LO = 0;
const MIN = 1;
const MAX = 2;
const FIRST = 3;

function fold(samples: number[]): number[] {
  const b = bucketOf(samples[0]);
  const folded = [b, samples[0], samples[0], 0];
  return samples.reduce(addFolded, folded);
}

/** Adds one sample to a folded list; returns the list (a new one when its range had to widen). */
function addFolded(f: number[], ns: number): number[] {
  if (ns > f[MAX]) f[MAX] = ns;
  if (ns < f[MIN]) f[MIN] = ns;
  const b = bucketOf(ns);
  const lo = f[LO];
  if (b < lo || FIRST + b - lo >= f.length) {
    const newLo = Math.min(lo, b);
    const hi = Math.max(lo + f.length - FIRST - 1, b);
    const grown: number[] = new Array(FIRST + hi - newLo + 1);
    grown[LO] = newLo;
    grown[MIN] = f[MIN];
    grown[MAX] = f[MAX];
    for (let i = FIRST; i < grown.length; i++) grown[i] = 0;
    for (let i = FIRST; i < f.length; i++) grown[i + lo - newLo] = f[i];
    f = grown;
  }
  f[FIRST + b - f[LO]]++;
  return f;
}

/**
 * The samples and this one, in a list grown to 4, 8, then 16 slots (the count says how many are used):
 * a list copied at every sample was nearly all of add() when case mode adds a sample per path and epoch,
 * and a list grown by push would reserve room for 16 more at once (see FIRST).
 */
function withSample(samples: number[], n: number, ns: number): number[] {
  if (n <= samples.length) {
    samples[n - 1] = ns;
    return samples;
  }
  const out: number[] = new Array(Math.min(EXACT_LIMIT, samples.length * 2));
  for (let i = 0; i < samples.length; i++) out[i] = samples[i];
  for (let i = samples.length; i < out.length; i++) out[i] = 0;
  out[n - 1] = ns;
  return out;
}

export class LatencyHistogram {
  private count = 0;
  /** count 1: the sample; 2 … EXACT_LIMIT: the samples (the first `count` of the list); past that: the folded list. */
  private data: number | number[] = 0;

  get samples(): number {
    return this.count;
  }

  add(ns: number): void {
    if (!(ns >= 0)) return;
    const n = ++this.count;
    if (n === 1) this.data = ns;
    else if (n === 2) this.data = [this.data as number, ns];
    else if (n <= EXACT_LIMIT) this.data = withSample(this.data as number[], n, ns);
    else if (n === EXACT_LIMIT + 1) this.data = addFolded(fold(this.data as number[]), ns);
    else this.data = addFolded(this.data as number[], ns);
  }

  /** Percentile q in [0, 1], in ns. */
  quantileNs(q: number): number {
    if (this.count === 0) return 0;
    if (this.count === 1) return this.data as number;
    if (this.count <= EXACT_LIMIT) {
      const sorted = (this.data as number[]).slice(0, this.count).sort((a, b) => a - b);
      const idx = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
      return sorted[idx];
    }
    const f = this.data as number[];
    const rank = Math.max(1, Math.ceil(q * this.count));
    let seen = 0;
    for (let i = FIRST; i < f.length; i++) {
      seen += f[i];
      if (seen >= rank) return Math.min(f[MAX], Math.max(f[MIN], bucketValue(f[LO] + i - FIRST)));
    }
    return f[MAX];
  }

  private maxNs(): number {
    if (this.count === 0) return 0;
    if (this.count === 1) return this.data as number;
    if (this.count <= EXACT_LIMIT) return Math.max(...(this.data as number[]).slice(0, this.count));
    return (this.data as number[])[MAX];
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
