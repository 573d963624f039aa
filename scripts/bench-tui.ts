// Benchmark of the UI's hot paths (prints figures; asserts nothing): how fast verdicts are ingested into
// the store (against a baseline of a bare Map update measured in the same run), and how long one frame of
// each view takes to build at 10, 1 000 and 10 000 flows — the cost the 10 frames/s throttle bounds.
//   node dist/scripts/bench-tui.js
import { Store } from '../src/tui/store';
import type { UiVerdict } from '../src/tui/model';
import { renderFlows } from '../src/tui/views/flows';
import { renderPackets } from '../src/tui/views/packets';
import { headerLines } from '../src/tui/views/header';
import { detailLines } from '../src/tui/views/detail';

function verdict(i: number, flows: number): UiVerdict {
  const f = i % flows;
  return {
    fingerprint: i.toString(16),
    timeMs: 1_700_000_000_000 + i,
    family: 4,
    proto: 17,
    src: `10.${(f >> 16) & 255}.${(f >> 8) & 255}.${f & 255}`,
    dst: '10.233.101.224',
    sport: 40000 + (f % 1000),
    dport: 5201,
    verdict: i % 7 === 0 ? 'EXPECTED_DROP' : 'MATCHED',
    reason: 'left through the predicted device',
    warnings: [],
    observed: [
      { iface: 'cali11299111064', dir: 'ingress', timeNs: i * 1000 },
      { iface: 'caliaa479e31ff6', dir: 'egress', timeNs: i * 1000 + 20_000 },
    ],
    predicted: ['cali11299111064', 'caliaa479e31ff6'],
    latencyUs: 20,
  };
}

function time(fn: () => void, minMs = 300): number {
  let n = 0;
  const start = process.hrtime.bigint();
  let elapsed = 0;
  do {
    fn();
    n++;
    elapsed = Number(process.hrtime.bigint() - start) / 1e6;
  } while (elapsed < minMs);
  return elapsed / n;
}

const N = 500_000;
const inputs = Array.from({ length: 10_000 }, (_v, i) => verdict(i, 1000));

// Baseline: the least any aggregation can do per event — build the flow key, one Map update.
function baseline(): number {
  const base = new Map<string, number>();
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < N; i++) {
    const v = inputs[i % inputs.length];
    const k = `${v.proto} ${v.src}:${v.sport} > ${v.dst}:${v.dport}`;
    base.set(k, (base.get(k) ?? 0) + 1);
  }
  return N / (Number(process.hrtime.bigint() - t0) / 1e9);
}
function ingest(): number {
  const store = new Store();
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < N; i++) store.ingest(inputs[i % inputs.length]);
  return N / (Number(process.hrtime.bigint() - t0) / 1e9);
}
// Each measured twice, alternating, the second round kept: the JIT has warmed both by then.
baseline();
ingest();
const baseRate = baseline();
const storeRate = ingest();

console.log('tui bench: ingest (verdicts into the store, 1 000 flows)');
console.log(`  baseline Map update     ${Math.round(baseRate).toLocaleString('en')} /s`);
console.log(`  Store.ingest            ${Math.round(storeRate).toLocaleString('en')} /s  (${(storeRate / baseRate).toFixed(2)}x baseline)`);
console.log('tui bench: one frame (ms), the throttle draws at most 10 per second');
console.log('  flows    size     header   flows view  packets view  detail');
for (const flows of [10, 1000, 10_000]) {
  const s = new Store({ maxFlows: 20_000 });
  for (let i = 0; i < Math.max(flows * 2, 5000); i++) s.ingest(verdict(i, flows));
  s.openDetail();
  for (const [w, h] of [[80, 24], [200, 60]]) {
    const hd = time(() => headerLines(s, w));
    const fl = time(() => renderFlows(s, w, h - 6, { top: 0 }));
    const pk = time(() => renderPackets(s, w, h - 6));
    const dt = time(() => detailLines(s, s.detailFlow()!));
    console.log(`  ${String(flows).padStart(6)}  ${`${w}x${h}`.padEnd(7)}  ${hd.toFixed(3).padStart(6)}   ${fl.toFixed(3).padStart(9)}  ${pk.toFixed(3).padStart(12)}  ${dt.toFixed(3).padStart(6)}`);
  }
}
