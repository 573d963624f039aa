// Benchmark of the path chain on one core (prints figures; asserts nothing). Rates are per CPU second of
// the process (see cpuNow), so a busy shared machine slows them less than it slows the wall clock:
//   1. events/s through decode alone (frame parser + record decoder: the baseline, measured in this run),
//   2. events/s through the whole chain — decode → correlate → predict → verdict → flows — with the
//      real Collector, the real predictor and the route model loaded from a real lab node1;
//   3. case mode (the default): packets judged per CPU second by the user-space side, fed what the kernel
//      would hand over for the same traffic (the kernel's tables modelled; see caseModeInput),
//   4. memory of the collector holding 10 000 and 100 000 concurrent flows.
// Input: pre-encoded loader frames (wire layout of src/capture/wire.ts) for a node1 traffic mix:
// same-node pod → pod (2 hook records), pod → node2 through VXLAN (3 records, the last encapsulated),
// and traffic into the IPAM-block blackhole (ingress + kfree_skb drop).
//   node --expose-gc dist/scripts/bench-path.js          (needs root: it builds a lab for the route model)
//   BENCH_STATE=/tmp/node1.json …                         (keeps node1's state there and reuses it: no lab on later runs)
//   BENCH_ONLY=throughput|case|newflows|memory|chain, BENCH_PACKETS=N  (one part; a smaller run)
//   BENCH_FLOWS=1000,50000 BENCH_ROUNDS=5 BENCH_PASSES=5      (case mode: flow counts, rounds, passes per round)
//   BENCH_COMPARE=/path/to/other/dist                         (case mode: another build interleaved, e.g. main's)
//   BENCH_VERBOSE=1                                           (case mode: every round, CPU in records vs counts)
import { EventEmitter } from 'node:events';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { FrameParser } from '../src/capture/frames';
import { decodeRecord, forEachRecord, newDecodeContext, DecodeContext, CaseCounts } from '../src/capture/decode';
import type { CaptureCounters, TraceEvent } from '../src/capture/event';
import { EVENTS_HDR, FRAME, FRAME_HDR_SIZE, FRAME_MAGIC, FrameType, Kind, Dir, PART, PARTS_BYTES, PROTOCOL_VERSION, REC, REC_BASE_SIZE, REC_DROP, REC_FIB, REC_TUN } from '../src/capture/wire';
import { Collector } from '../src/collector/collector';
import { labDown, labUp, nodeNetns, randomPrefix } from '../src/lab';
import { createRouteModel } from '../src/routing/model';
import { predict } from '../src/routing/predict';
import type { RouteModel, RoutingState } from '../src/routing/types';

const POD_A = [10, 233, 101, 222];
const POD_B = [10, 233, 101, 224];
const WEB_0 = [10, 233, 100, 130];
const NO_POD = [10, 233, 101, 230];
const NODE1 = [172, 27, 71, 11];
const NODE2 = [172, 27, 71, 12];
const RECORDS_PER_FRAME = 256;

interface Rec {
  ts: bigint;
  fp: bigint;
  ifindex: number;
  kind: number;
  dir: number;
  src: number[];
  dst: number[];
  sport: number;
  dport: number;
  len: number;
  fib?: { result: number; ifindex: number; nh?: number[] };
  tun?: { src: number[]; dst: number[] };
  dropReason?: number;
}

/** The record's parts (wire.ts PART bits) and so its size. */
function partsOf(r: Rec): number {
  return (r.fib ? PART.FIB : 0) | (r.tun ? PART.TUN : 0) | (r.kind === Kind.DROP ? PART.DROP : 0);
}

function recordSize(r: Rec): number {
  return REC_BASE_SIZE + PARTS_BYTES[partsOf(r)];
}

/** Writes the record at buf[off] as the kernel would (protocol 2: base + parts); returns its size. */
function encode(buf: Buffer, off: number, r: Rec): number {
  const parts = partsOf(r);
  const size = recordSize(r);
  buf.fill(0, off, off + size);
  buf.writeUInt16LE(size, off + REC.size);
  buf[off + REC.parts] = parts;
  buf.writeBigUInt64LE(r.ts, off + REC.tsNs);
  buf.writeBigUInt64LE(r.fp, off + REC.fingerprint);
  // As the kernel fills it: never 0 for an IP packet, the same at every hop of a packet.
  buf.writeUInt32LE((Number(r.fp & 0xffffffffn) | 1) >>> 0, off + REC.natFp);
  buf.writeUInt32LE(r.ifindex, off + REC.ifindex);
  buf.writeUInt32LE(r.len, off + REC.len);
  buf.writeUInt32LE((Number(r.fp & 0xffffn)) >>> 0, off + REC.ipId);
  buf[off + REC.kind] = r.kind;
  buf[off + REC.dir] = r.dir;
  buf[off + REC.family] = 4;
  buf[off + REC.proto] = 17;
  buf[off + REC.ttl] = 64;
  buf.writeUInt16LE(r.sport, off + REC.sport);
  buf.writeUInt16LE(r.dport, off + REC.dport);
  Buffer.from(r.src).copy(buf, off + REC.src4);
  Buffer.from(r.dst).copy(buf, off + REC.dst4);
  let p = off + REC_BASE_SIZE;
  if (r.fib) {
    buf[p + REC_FIB.result] = r.fib.result;
    buf.writeUInt32LE(r.fib.ifindex, p + REC_FIB.ifindex);
    if (r.fib.nh) {
      buf[p + REC_FIB.nexthopFamily] = 4;
      Buffer.from(r.fib.nh).copy(buf, p + REC_FIB.nexthop);
    }
    p += PARTS_BYTES[PART.FIB];
  }
  if (r.tun) {
    buf[p + REC_TUN.family] = 4;
    buf.writeUInt32LE(4096, p + REC_TUN.vni);
    buf.writeUInt16LE(40000 + (r.sport % 20000), p + REC_TUN.sport);
    buf.writeUInt16LE(4789, p + REC_TUN.dport);
    Buffer.from(r.tun.src).copy(buf, p + REC_TUN.src);
    Buffer.from(r.tun.dst).copy(buf, p + REC_TUN.dst);
    p += PARTS_BYTES[PART.TUN];
  }
  if (r.dropReason !== undefined) buf.writeUInt32LE(r.dropReason, p + REC_DROP.reason);
  return size;
}

interface Ifs {
  caliA: number;
  caliB: number;
  vxlan: number;
  ens3: number;
}

/**
 * Records for `packets` packets over `flows` flows (UDP, one source port per flow), in time order,
 * 2 µs apart. Mix per flow: 45 % same node, 45 % across nodes, 10 % into the blackhole. When `replies`,
 * every same-node request is followed by its reply (the flow's other direction).
 */
function traffic(packets: number, flows: number, ifs: Ifs, replies: boolean): Rec[] {
  const out: Rec[] = [];
  let t = 10_000_000_000n;
  let fp = 0x9e3779b97f4a7c15n;
  const nextFp = () => (fp = (fp * 6364136223846793005n + 1442695040888963407n) & 0xffffffffffffffffn);
  for (let i = 0; i < packets; i++) {
    const flow = i % flows;
    const sport = 1024 + (flow % 60000);
    const dport = 5201 + Math.floor(flow / 60000);
    const kind = flow % 20;
    const f = nextFp();
    t += 2000n;
    if (kind < 9) {
      out.push({ ts: t, fp: f, ifindex: ifs.caliA, kind: Kind.PACKET, dir: Dir.INGRESS, src: POD_A, dst: POD_B, sport, dport, len: 106, fib: { result: 0, ifindex: ifs.caliB } });
      out.push({ ts: t + 20_000n, fp: f, ifindex: ifs.caliB, kind: Kind.PACKET, dir: Dir.EGRESS, src: POD_A, dst: POD_B, sport, dport, len: 106 });
      if (replies) {
        const g = nextFp();
        out.push({ ts: t + 60_000n, fp: g, ifindex: ifs.caliB, kind: Kind.PACKET, dir: Dir.INGRESS, src: POD_B, dst: POD_A, sport: dport, dport: sport, len: 106, fib: { result: 0, ifindex: ifs.caliA } });
        out.push({ ts: t + 75_000n, fp: g, ifindex: ifs.caliA, kind: Kind.PACKET, dir: Dir.EGRESS, src: POD_B, dst: POD_A, sport: dport, dport: sport, len: 106 });
      }
    } else if (kind < 18) {
      out.push({ ts: t, fp: f, ifindex: ifs.caliA, kind: Kind.PACKET, dir: Dir.INGRESS, src: POD_A, dst: WEB_0, sport, dport, len: 106, fib: { result: 0, ifindex: ifs.vxlan, nh: [10, 233, 100, 128] } });
      out.push({ ts: t + 25_000n, fp: f, ifindex: ifs.vxlan, kind: Kind.PACKET, dir: Dir.EGRESS, src: POD_A, dst: WEB_0, sport, dport, len: 106 });
      out.push({ ts: t + 40_000n, fp: f, ifindex: ifs.ens3, kind: Kind.PACKET, dir: Dir.EGRESS, src: POD_A, dst: WEB_0, sport, dport, len: 156, tun: { src: NODE1, dst: NODE2 } });
    } else {
      out.push({ ts: t, fp: f, ifindex: ifs.caliA, kind: Kind.PACKET, dir: Dir.INGRESS, src: POD_A, dst: NO_POD, sport, dport, len: 106, fib: { result: 1, ifindex: 0 } });
      out.push({ ts: t + 8_000n, fp: f, ifindex: ifs.caliA, kind: Kind.DROP, dir: Dir.NONE, src: POD_A, dst: NO_POD, sport, dport, len: 106, dropReason: 2 });
    }
  }
  // The hooks of different packets interleave; the ring buffer delivers them in time order.
  out.sort((a, b) => (a.ts < b.ts ? -1 : a.ts > b.ts ? 1 : 0));
  return out;
}

/** EVENTS frames as the loader writes them, seq 0, 1, 2… */
function frames(recs: Rec[]): Buffer {
  const nFrames = Math.ceil(recs.length / RECORDS_PER_FRAME);
  const buf = Buffer.alloc(nFrames * (FRAME_HDR_SIZE + EVENTS_HDR.size) + recs.reduce((n, r) => n + recordSize(r), 0));
  let off = 0;
  for (let fi = 0; fi < nFrames; fi++) {
    const chunk = recs.slice(fi * RECORDS_PER_FRAME, (fi + 1) * RECORDS_PER_FRAME);
    const payloadLen = EVENTS_HDR.size + chunk.reduce((n, r) => n + recordSize(r), 0);
    buf.writeUInt32LE(FRAME_MAGIC, off + FRAME.magic);
    buf.writeUInt16LE(PROTOCOL_VERSION, off + FRAME.version);
    buf.writeUInt16LE(FrameType.EVENTS, off + FRAME.type);
    buf.writeUInt32LE(payloadLen, off + FRAME.length);
    buf.writeUInt32LE(fi, off + FRAME.seq);
    const p = off + FRAME_HDR_SIZE;
    buf.writeUInt32LE(chunk.length, p + EVENTS_HDR.count);
    buf.writeUInt32LE(REC_BASE_SIZE, p + EVENTS_HDR.baseSize);
    let at = p + EVENTS_HDR.size;
    for (const r of chunk) at += encode(buf, at, r);
    off += FRAME_HDR_SIZE + payloadLen;
  }
  return buf;
}

/** Feeds the byte stream through the capture's real parser and decoder, in 64 KiB pipe-sized chunks. */
function replay(stream: Buffer, ctx: DecodeContext, each: (ev: TraceEvent) => void, reuse: boolean): number {
  let n = 0;
  const into = reuse ? ({} as TraceEvent) : undefined;
  const parser = new FrameParser((type, _seq, buf, off, len) => {
    if (type !== FrameType.EVENTS) return;
    n += forEachRecord(buf, off, len, (b, recOff, size) => each(decodeRecord(b, recOff, ctx, into, size)));
  });
  for (let off = 0; off < stream.length; off += 65536) parser.push(stream.subarray(off, Math.min(stream.length, off + 65536)));
  return n;
}

const NO_LOSS: CaptureCounters = { received: 0, lostKernel: 0, lostPipe: 0, loaderRestarts: 0 };

function newCollector(model: RouteModel, maxFlows: number): Collector {
  return new Collector({
    capture: { on: () => undefined, counters: () => NO_LOSS },
    model,
    predict,
    maxFlows,
    flowIdleMs: 3_600_000,
    // Timers would read the wall clock against the recorded timestamps: the replay drives time itself.
    monotonicNs: () => 0,
  });
}

/** The kernel's table of known cases (bpf/common.bpf.h ct_case_known, bpf/cases.c age_known). */
const KERNEL_KNOWN_CASES = 65536;
const KERNEL_KNOWN_IDLE_EPOCHS = 16;
/** Each epoch's counting table (ct_case_slotN): a case past it loses its packets' counts (counted). */
const KERNEL_SLOT_CASES = 65536;

/** What the kernel hands user space for one traffic mix in case mode, prepared once, replayed per round. */
interface CaseInput {
  flows: number;
  epochs: number;
  /** Records shipped, per epoch: a hop whose case the kernel did not know, and every drop. */
  shipped: TraceEvent[][];
  frames: CaseCounts[];
  cases: number;
  /** Records shipped only because the kernel's known-case table was full (each such packet costs a record). */
  shippedTableFull: number;
  /** Packets whose count the kernel could not keep (an epoch's table full). */
  lostCounts: number;
  /** The size of the kernel's known-case table modelled. */
  knownCases: number;
}

/**
 * Case mode, kernel side, modelled on the same traffic: each hop's case (here: flow, hop index, kind and
 * device — what the real case id hashes for this mix), counted per epoch in a table of 65 536 cases; a
 * hop's record is shipped when its case is not in the known table (65 536 cases, no eviction: full, a new
 * case is shipped with every packet until idle ones are aged out every 16 epochs) and for every drop.
 */
function caseModeInput(ctx: DecodeContext, ifs: Ifs, packets: number, flows: number, epochs: number, knownCases = KERNEL_KNOWN_CASES): CaseInput {
  const byPacket = new Map<string, TraceEvent[]>();
  replay(frames(traffic(packets, flows, ifs, false)), ctx, (ev) => {
    let list = byPacket.get(ev.fingerprint);
    if (!list) byPacket.set(ev.fingerprint, (list = []));
    list.push(ev);
  }, false);
  const ids = new Map<string, string>();
  const known = new Map<string, number>();
  const counts: Map<string, number>[] = Array.from({ length: epochs }, () => new Map());
  const shipped: TraceEvent[][] = Array.from({ length: epochs }, () => []);
  const perEpoch = Math.ceil(byPacket.size / epochs);
  let shippedTableFull = 0;
  let lostCounts = 0;
  let i = 0;
  let agedAt = 0;
  for (const evs of byPacket.values()) {
    const epoch = Math.floor(i++ / perEpoch);
    if (epoch !== agedAt && epoch % KERNEL_KNOWN_IDLE_EPOCHS === 0) {
      agedAt = epoch;
      for (const [id, last] of known) if (epoch - last > KERNEL_KNOWN_IDLE_EPOCHS) known.delete(id);
    }
    let prev = '0000000000000000';
    for (let j = 0; j < evs.length; j++) {
      const e = evs[j];
      const key = `${e.src}|${e.dst}|${e.sport}|${e.dport}|${j}|${e.kind}|${e.iface}`;
      let id = ids.get(key);
      if (!id) ids.set(key, (id = (ids.size + 1).toString(16).padStart(16, '0')));
      e.caseId = id;
      e.prevCase = prev;
      e.epoch = epoch;
      prev = id;
      const slot = counts[epoch];
      const n = slot.get(id);
      if (n === undefined && slot.size >= Math.max(KERNEL_SLOT_CASES, knownCases)) lostCounts++;
      else slot.set(id, (n ?? 0) + 1);
      if (e.kind === 'drop') {
        shipped[epoch].push(e);
        continue;
      }
      if (known.has(id)) {
        known.set(id, epoch);
        continue;
      }
      shipped[epoch].push(e);
      if (known.size < knownCases) known.set(id, epoch);
      else shippedTableFull++;
    }
  }
  const caseFrames = counts.map((c, e): CaseCounts => ({ epoch: e, last: true, entries: [...c].map(([caseId, n]) => ({ caseId, packets: n, bytes: n * 98 })) }));
  return { flows, epochs, shipped, frames: caseFrames, cases: ids.size, shippedTableFull, lostCounts, knownCases };
}

/** The code under test: this build's collector, or another build's (BENCH_COMPARE) for before/after. */
interface Code {
  name: string;
  Collector: typeof Collector;
  predict: typeof predict;
}

/**
 * Case mode, user-space side: what the kernel would hand over (caseModeInput) fed to a real Collector
 * through a capture stand-in. Packets judged per second of user-space CPU (the kernel's share is in
 * bench-peers' CPU per packet).
 */
function caseModeRun(code: Code, model: RouteModel, input: CaseInput, passes: number): { rate: number; judged: number; verdicts: Record<string, number>; records: number; entries: number; unknown: number; split: { records: number; counts: number } } {
  const split = { records: 0, counts: 0 };
  const verbose = !!process.env.BENCH_VERBOSE;
  let secs = 0;
  let packets = 0;
  let last: ReturnType<Collector['counters']> | undefined;
  let records = 0;
  let entries = 0;
  for (let pass = 0; pass < passes; pass++) {
    const cap = new EventEmitter();
    gc(); // the previous pass's garbage is not this one's cost
    const c = new code.Collector({
      capture: Object.assign(cap, { counters: () => NO_LOSS }) as unknown as ConstructorParameters<typeof Collector>[0]['capture'],
      model,
      predict: code.predict,
      maxFlows: 200_000,
      flowIdleMs: 3_600_000,
      monotonicNs: () => 0,
    });
    records = 0;
    entries = 0;
    const t0 = cpuNow();
    for (let e = 0; e < input.epochs; e++) {
      // process.cpuUsage() is a system call: the split (records / counts) is taken only when asked for.
      const r0 = verbose ? cpuNow() : 0;
      for (const ev of input.shipped[e]) c.push(ev);
      records += input.shipped[e].length;
      // The kernel hands an epoch over two epochs later: by then its packets are closed here too.
      (c as unknown as { correlator: { tick(n: number): void } }).correlator.tick(Number.MAX_SAFE_INTEGER);
      const r1 = verbose ? cpuNow() : 0;
      cap.emit('cases', input.frames[e]);
      entries += input.frames[e].entries.length;
      if (verbose) {
        split.records += r1 - r0;
        split.counts += cpuNow() - r1;
      }
    }
    c.stop();
    secs += cpuNow() - t0;
    last = c.counters();
    packets += last.packets;
  }
  const k = last!;
  return { rate: packets / secs, judged: k.packets, verdicts: k.verdicts, records, entries, unknown: k.caseUnknown, split };
}

/**
 * node1's route model, loaded from a lab brought up for it. BENCH_STATE=FILE keeps that state in FILE and
 * reuses it on the next runs (a model fixed at generation 1): repeated profiling runs then need no lab.
 */
async function node1Model(stateFile: string | undefined): Promise<RouteModel> {
  if (stateFile && existsSync(stateFile)) {
    const state = JSON.parse(readFileSync(stateFile, 'utf8')) as RoutingState;
    // The state does not change: a model that never emits needs no listeners.
    const fixed = { state, generation: 1, on: () => fixed, off: () => fixed, load: async () => undefined, start: async () => undefined, stop: async () => undefined };
    return fixed as unknown as RouteModel;
  }
  const prefix = randomPrefix();
  let model: RouteModel;
  try {
    await labUp({ prefix });
    model = createRouteModel({ netns: nodeNetns(prefix, 'node1') });
    await model.load();
  } finally {
    await labDown({ prefix });
  }
  if (stateFile) writeFileSync(stateFile, JSON.stringify(model.state));
  // A collector listens to its model for its whole life (calitrace makes one per trace); this script makes
  // a few dozen on one model, which is not a leak.
  (model as unknown as EventEmitter).setMaxListeners(0);
  return model;
}

/**
 * CPU seconds this process has used (user + system, every thread: V8's GC helpers included). Rates are per
 * CPU second, not per wall-clock second: on this shared machine a run waits for a core as long as it
 * runs, and what the chain costs is the CPU it takes.
 */
function cpuNow(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
}

function gc(): void {
  const g = (globalThis as { gc?: () => void }).gc;
  if (g) {
    g();
    g();
  }
}

function mb(bytes: number): string {
  return (bytes / 1048576).toFixed(1);
}

async function main(): Promise<void> {
  if (!(globalThis as { gc?: () => void }).gc) {
    process.stderr.write('bench-path: run with node --expose-gc for the memory figures (heap is measured after a full GC)\n');
  }
  const model = await node1Model(process.env.BENCH_STATE);
  const byName = new Map(model.state.links.map((l) => [l.name, l.ifindex]));
  const ifs: Ifs = {
    caliA: byName.get('cali11299111064')!,
    caliB: byName.get('caliaa479e31ff6')!,
    vxlan: byName.get('vxlan.calico')!,
    ens3: byName.get('ens3')!,
  };
  const ctx = newDecodeContext();
  for (const l of model.state.links) ctx.linkNames.set(l.ifindex, l.name);
  ctx.dropReasons.set(2, 'NOT_SPECIFIED');

  console.log(`bench-path: node ${process.version}, rates per CPU second of this process, route model of lab node1 (generation ${model.generation}, ${model.state.routes.length} routes)`);
  console.log('');

  // --- throughput ------------------------------------------------------------------------------
  const PACKETS = Number(process.env.BENCH_PACKETS ?? 200_000);
  // One part, for profiling: 'throughput' | 'memory' | 'case' | 'newflows', or 'chain' (the whole chain alone, 1 000 flows, 10 runs).
  const only = process.env.BENCH_ONLY;
  if (only === 'chain') {
    const stream = frames(traffic(PACKETS, 1_000, ifs, false));
    for (let round = 0; round < 10; round++) {
      const c = newCollector(model, 200_000);
      const t0 = cpuNow();
      const n = replay(stream, ctx, (ev) => c.push(ev), false);
      c.stop();
      const secs = cpuNow() - t0;
      console.log(`chain: ${Math.round(n / secs).toLocaleString('en')} events/s = ${Math.round(c.counters().packets / secs).toLocaleString('en')} packets/s`);
    }
    return;
  }
  for (const flows of only === 'memory' || only === 'case' || only === 'newflows' ? [] : [1_000, 50_000]) {
    let recs: Rec[] | undefined = traffic(PACKETS, flows, ifs, false);
    const stream = frames(recs);
    const nRecords = recs.length;
    recs = undefined; // only the encoded bytes stay live: a big heap would tax every GC of the run
    // Warm-up, then best of 3 (the machine is shared).
    let base = 0;
    let fresh = 0;
    let chain = 0;
    let judged = 0;
    let verdicts: Record<string, number> = {};
    for (let round = 0; round < 4; round++) {
      let sink = 0;
      let t0 = cpuNow();
      const nb = replay(stream, ctx, (ev) => (sink += ev.len), true);
      const baseRate = nb / (cpuNow() - t0);
      // The collector keeps events until their packet is judged, so it cannot reuse one object.
      const kept: TraceEvent[] = [];
      t0 = cpuNow();
      const nf = replay(stream, ctx, (ev) => {
        kept.push(ev);
        if (kept.length > 64) kept.length = 0;
      }, false);
      const freshRate = nf / (cpuNow() - t0);

      const c = newCollector(model, 200_000);
      t0 = cpuNow();
      const nc = replay(stream, ctx, (ev) => c.push(ev), false);
      c.stop();
      const chainRate = nc / (cpuNow() - t0);
      if (round > 0) {
        base = Math.max(base, baseRate);
        fresh = Math.max(fresh, freshRate);
        chain = Math.max(chain, chainRate);
      }
      const k = c.counters();
      judged = k.packets;
      verdicts = k.verdicts;
      if (sink < 0) console.log(sink);
    }
    const eventsPerPacket = nRecords / PACKETS;
    console.log(`${flows.toLocaleString('en')} flows, ${PACKETS.toLocaleString('en')} packets (${nRecords.toLocaleString('en')} hook records, ${eventsPerPacket.toFixed(2)} per packet):`);
    const row = (name: string, rate: number) => `  ${name.padEnd(40)} ${Math.round(rate).toLocaleString('en').padStart(10)} events/s`;
    console.log(row('decode only, one reused object (baseline)', base));
    console.log(row('decode only, a new object per event', fresh));
    console.log(
      `${row('decode+correlate+predict+verdict+flows', chain)} = ${Math.round(chain / eventsPerPacket).toLocaleString('en')} packets/s ` +
        `(${((chain / base) * 100).toFixed(1)} % of the baseline, ${((chain / fresh) * 100).toFixed(1)} % of fresh-object decode)`,
    );
    console.log(`  verdicts: ${Object.entries(verdicts).filter(([, n]) => n > 0).map(([v, n]) => `${v} ${n}`).join(', ')} (${judged} packets)`);
    console.log('');
  }

  // --- case mode -------------------------------------------------------------------------------
  // 100 flows: ~100 packets per case per epoch (a few busy flows at line rate); 1 000: ~10; 50 000: more
  // cases (≈ 122 000) than the kernel's known-case table holds (65 536): past that the kernel ships a
  // record for every packet of the cases it could not add, and user space judges those one by one.
  // BENCH_COMPARE=DIR: another build's dist/ (e.g. main's, built in a temp worktree) runs in the same
  // process, interleaved round by round with this one, on the same input.
  const codes: Code[] = [{ name: 'this build', Collector, predict }];
  if (process.env.BENCH_COMPARE) {
    const dir = process.env.BENCH_COMPARE;
    codes.push({
      name: `compare (${dir})`,
      Collector: (require(`${dir}/src/collector/collector.js`) as { Collector: typeof Collector }).Collector,
      predict: (require(`${dir}/src/routing/predict.js`) as { predict: typeof predict }).predict,
    });
  }
  const caseRounds = Number(process.env.BENCH_ROUNDS ?? 5);
  // A round is this many passes over the input, each with a fresh collector: one pass takes ~0.1 s, too
  // short to average out a garbage collection or a stolen time slice.
  const casePasses = Number(process.env.BENCH_PASSES ?? 5);
  const caseFlows = process.env.BENCH_FLOWS ? process.env.BENCH_FLOWS.split(',').map(Number) : [100, 1_000, 50_000];
  for (const flows of only === 'memory' || only === 'throughput' || only === 'newflows' ? [] : caseFlows) {
    const input = caseModeInput(ctx, ifs, PACKETS, flows, 20);
    // Past the kernel's table, what the same user space does with tables that hold every case: a model
    // (bpf/ keeps 65 536), to tell the cost of table capacity from the cost of CPU.
    const bigger = input.cases > KERNEL_KNOWN_CASES ? caseModeInput(ctx, ifs, PACKETS, flows, 20, 4 * KERNEL_KNOWN_CASES) : undefined;
    // One pass of many flows takes seconds already.
    const passes = flows >= 10_000 ? 1 : casePasses;
    const runs: { code: Code; input: CaseInput; label: string }[] = codes.map((code) => ({ code, input, label: code.name }));
    if (bigger) runs.push({ code: codes[0], input: bigger, label: `${codes[0].name}, if the kernel's tables held ${bigger.knownCases.toLocaleString('en')} cases (a model: bpf/ holds ${KERNEL_KNOWN_CASES})` });
    const rates = runs.map(() => [] as number[]);
    const last: ReturnType<typeof caseModeRun>[] = [];
    // A warm-up round each, then interleaved rounds: A B A B …
    for (let round = 0; round <= caseRounds; round++) {
      runs.forEach((run, ri) => {
        const r = caseModeRun(run.code, model, run.input, passes);
        if (round > 0) rates[ri].push(r.rate);
        if (process.env.BENCH_VERBOSE) console.log(`    round ${round} ${run.label} ${Math.round(r.rate)}; CPU s in records ${r.split.records.toFixed(3)}, in counts ${r.split.counts.toFixed(3)}`);
        last[ri] = r;
      });
    }
    const describe = (inp: CaseInput, r: ReturnType<typeof caseModeRun>) =>
      `${r.records.toLocaleString('en')} records (first packet of each case + every drop` +
      `${inp.shippedTableFull ? `, + ${inp.shippedTableFull.toLocaleString('en')} because the kernel's known-case table (${inp.knownCases.toLocaleString('en')}) was full` : ''}` +
      `), ${r.entries.toLocaleString('en')} case counts${inp.lostCounts ? `, ${inp.lostCounts} packets not counted (an epoch's table full)` : ''}`;
    console.log(`case mode, ${flows.toLocaleString('en')} flows, ${PACKETS.toLocaleString('en')} packets in ${input.epochs} epochs, ${input.cases.toLocaleString('en')} cases: ${describe(input, last[0])}`);
    runs.forEach((run, ri) => {
      const r = last[ri];
      const sorted = rates[ri].slice().sort((a, b) => a - b);
      const median = sorted[Math.floor(sorted.length / 2)];
      console.log(
        `  ${run.label}: packets judged per CPU second min ${Math.round(sorted[0]).toLocaleString('en')} median ${Math.round(median).toLocaleString('en')} (${sorted.length} rounds of ${passes} passes); ` +
          `${Object.entries(r.verdicts).filter(([, n]) => n > 0).map(([v, n]) => `${v} ${n}`).join(', ')} (${r.judged} packets)${r.unknown ? `, caseUnknown ${r.unknown}` : ''}` +
          `${run.input !== input ? `; ${describe(run.input, r)}` : ''}`,
      );
    });
  }
  console.log('');

  // --- case mode: what a new flow costs ------------------------------------------------------------
  // 10 000 flows of one packet each: every packet is a new flow's first (its records shipped, its path
  // judged when its count comes). CPU per new flow, this build and BENCH_COMPARE's, interleaved.
  if (only === undefined || only === 'case' || only === 'newflows') {
    const n = 10_000;
    const input = caseModeInput(ctx, ifs, n, n, 20);
    const per = codes.map(() => [] as number[]);
    for (let round = 0; round <= caseRounds; round++) {
      codes.forEach((code, ci) => {
        const r = caseModeRun(code, model, input, 1);
        if (round > 0) per[ci].push(1e6 / r.rate);
      });
    }
    codes.forEach((code, ci) => {
      const sorted = per[ci].sort((a, b) => a - b);
      console.log(
        `case mode, ${n.toLocaleString('en')} new flows of one packet (${input.shipped.reduce((a, e) => a + e.length, 0).toLocaleString('en')} records): ` +
          `${code.name}: CPU per new flow min ${sorted[0].toFixed(1)} µs median ${sorted[Math.floor(sorted.length / 2)].toFixed(1)} µs (${sorted.length} rounds)`,
      );
    });
    console.log('');
  }

  // --- memory ----------------------------------------------------------------------------------
  // One packet per flow (and its reply for same-node flows), then 10 000 flows of 40 packets each way:
  // past 16 samples a flow's histograms fold into buckets.
  const memoryRuns = only === 'throughput' || only === 'case' || only === 'newflows' ? [] : [{ flows: 10_000, each: 1 }, { flows: 100_000, each: 1 }, { flows: 10_000, each: 40 }];
  for (const { flows, each } of memoryRuns) {
    let recs: Rec[] | undefined = traffic(flows * each, flows, ifs, true);
    const stream = frames(recs);
    const last = recs[recs.length - 1].ts;
    recs = undefined;
    gc();
    const heap0 = process.memoryUsage().heapUsed;
    const rss0 = process.memoryUsage().rss;
    const c = newCollector(model, flows);
    replay(stream, ctx, (ev) => c.push(ev), false);
    // Let every window close so only flow state (and the bounded prediction cache) is left.
    (c as unknown as { correlator: { tick(n: number): void } }).correlator.tick(Number(last) + 10e9);
    gc();
    const heap1 = process.memoryUsage().heapUsed;
    const rss1 = process.memoryUsage().rss;
    const k = c.counters();
    console.log(
      `${flows.toLocaleString('en')} concurrent flows${each > 1 ? ` of ${each} packets each way` : ''}: heap +${mb(heap1 - heap0)} MB (${Math.round((heap1 - heap0) / flows)} B/flow), ` +
        `RSS +${mb(rss1 - rss0)} MB; flows active ${k.flowsActive}, flow evictions ${k.flowEvictions}, packets judged ${k.packets}`,
    );
    c.stop();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
