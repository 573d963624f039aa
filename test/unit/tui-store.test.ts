// The UI store: selection follows its flow as rows reorder, pause freezes rows while counting goes on,
// a storm of verdicts is aggregated into flows and drawn at most once per throttle interval, and hostile
// external strings never become blessed markup.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Store } from '../../src/tui/store';
import type { UiVerdict } from '../../src/tui/model';
import { RenderThrottle, Clock } from '../../src/tui/throttle';
import { escapeMarkup, stripTags, wrapMarkup } from '../../src/tui/escape';
import { renderFlows } from '../../src/tui/views/flows';
import { detailLines } from '../../src/tui/views/detail';
import { headerLines } from '../../src/tui/views/header';
import { renderRoutes } from '../../src/tui/views/routes';
import { compileUiFilter } from '../../src/tui/filter';

function verdict(src: string, dst: string, timeMs: number, over: Partial<UiVerdict> = {}): UiVerdict {
  return {
    fingerprint: `fp-${src}-${dst}-${timeMs}`,
    timeMs,
    family: 4,
    proto: 1,
    src,
    dst,
    sport: 0,
    dport: 0,
    verdict: 'MATCHED',
    reason: 'left through the predicted device',
    warnings: [],
    observed: [
      { iface: 'cali11299111064', dir: 'ingress', timeNs: 1_000_000 },
      { iface: 'caliaa479e31ff6', dir: 'egress', timeNs: 1_023_000 },
    ],
    predicted: ['cali11299111064', 'caliaa479e31ff6'],
    latencyUs: 23,
    ...over,
  };
}

test('the selection stays on its flow while rows reorder under it', () => {
  const s = new Store();
  s.ingest(verdict('10.0.0.1', '10.0.0.9', 1000));
  s.ingest(verdict('10.0.0.2', '10.0.0.9', 2000));
  s.ingest(verdict('10.0.0.3', '10.0.0.9', 3000));
  // Sorted by last seen, newest first: .3, .2, .1 — select the middle one (.2).
  assert.deepEqual(s.flowRows().map((r) => r.src), ['10.0.0.3', '10.0.0.2', '10.0.0.1']);
  s.moveSelection(1);
  assert.equal(s.selectedFlow()?.src, '10.0.0.2');
  // .1 becomes the newest: it jumps to the top, the selected row moves down, the selection follows it.
  s.ingest(verdict('10.0.0.1', '10.0.0.9', 4000));
  assert.deepEqual(s.flowRows().map((r) => r.src), ['10.0.0.1', '10.0.0.3', '10.0.0.2']);
  assert.equal(s.selectedFlow()?.src, '10.0.0.2');
  assert.equal(s.selectedIndex(), 2);
  // A new flow arriving on top does not steal it either.
  s.ingest(verdict('10.0.0.4', '10.0.0.9', 5000));
  assert.equal(s.selectedFlow()?.src, '10.0.0.2');
  // Re-sorting by source keeps it too.
  while (s.sort !== 'src') s.cycleSort();
  assert.equal(s.selectedFlow()?.src, '10.0.0.2');
  assert.equal(s.selectedIndex(), 1);
});

test('pause freezes the rows but counting goes on; resume shows what arrived meanwhile', () => {
  const s = new Store();
  s.ingest(verdict('10.0.0.1', '10.0.0.9', 1000));
  s.togglePause();
  assert.equal(s.paused, true);
  for (let i = 0; i < 5; i++) s.ingest(verdict('10.0.0.1', '10.0.0.9', 2000 + i));
  s.ingest(verdict('10.0.0.7', '10.0.0.9', 3000, { verdict: 'DROPPED', reason: 'netfilter' }));
  assert.equal(s.eventsTotal, 7);
  assert.deepEqual(s.flowRows().map((r) => [r.src, r.packets]), [['10.0.0.1', 1]]);
  assert.equal(s.packetRows().length, 1);
  assert.equal(s.dropRows().length, 0);
  const header = stripTags(headerLines(s, 120).join('\n'));
  assert.match(header, /PAUSED/);
  assert.match(header, /events 7/);
  s.togglePause();
  assert.deepEqual(
    s.flowRows().map((r) => [r.src, r.packets]),
    [['10.0.0.7', 1], ['10.0.0.1', 6]],
  );
  assert.equal(s.dropRows().length, 1);
  assert.doesNotMatch(stripTags(headerLines(s, 120).join('\n')), /PAUSED/);
});

test('a storm of verdicts is aggregated into flows and drawn at most once per interval', () => {
  // A fake clock stands in for time itself (not for any part of the system under test).
  let now = 0;
  const timers: Array<{ at: number; fn: () => void; id: number }> = [];
  let nextId = 1;
  const clock: Clock = {
    now: () => now,
    setTimeout: (fn, ms) => {
      const id = nextId++;
      timers.push({ at: now + ms, fn, id });
      return id;
    },
    clearTimeout: (h) => {
      const i = timers.findIndex((t) => t.id === h);
      if (i >= 0) timers.splice(i, 1);
    },
  };
  const advance = (ms: number) => {
    const end = now + ms;
    for (;;) {
      timers.sort((a, b) => a.at - b.at);
      const t = timers[0];
      if (!t || t.at > end) break;
      timers.shift();
      now = t.at;
      t.fn();
    }
    now = end;
  };
  const s = new Store();
  const drawn: number[] = [];
  const throttle = new RenderThrottle(() => drawn.push(s.flowRows().reduce((n, r) => n + r.packets, 0)), 100, clock);
  // 200 000 verdicts over one simulated second, 20 flows, each arrival asking for a frame.
  for (let i = 0; i < 200_000; i++) {
    s.ingest(verdict(`10.1.0.${i % 20}`, '10.233.101.224', now));
    throttle.request();
    if (i % 200 === 199) advance(1);
  }
  advance(200);
  assert.equal(throttle.requests, 200_000);
  assert.ok(throttle.frames <= 12, `1 s of storm must give at most ~10 frames, got ${throttle.frames}`);
  assert.ok(throttle.frames >= 9, `frames keep coming during a storm, got ${throttle.frames}`);
  assert.equal(s.flowCount(), 20);
  // The trailing frame shows the final state: every packet counted.
  assert.equal(drawn[drawn.length - 1], 200_000);
});

test('flows are capped and evictions counted', () => {
  const s = new Store({ maxFlows: 10 });
  for (let i = 0; i < 25; i++) s.ingest(verdict(`10.2.0.${i}`, '10.0.0.1', i * 1000));
  assert.equal(s.flowCount(), 10);
  assert.equal(s.flowsEvicted, 15);
  assert.equal(s.flowRows()[0].src, '10.2.0.24');
});

test('hostile external strings are shown as text, never read as markup', () => {
  const hostile = 'cali{red-fg}x{/red-fg}\u001b[2J';
  const s = new Store();
  s.setStatus({ node: 'n{bold}1', mode: 'packet', interfaces: [hostile], subscribers: 1, counters: [{ name: '{blink}k', value: 3 }] });
  s.ingest(
    verdict('10.0.0.1', '10.0.0.2', 1, {
      observed: [{ iface: hostile, dir: 'ingress', timeNs: 1 }, { iface: 'eth{/}', dir: 'drop', timeNs: 5, dropReason: '{open}' }],
      predicted: [hostile],
      reason: 'why {underline}',
      verdict: 'DROPPED',
    }),
  );
  s.moveSelection(0);
  s.openDetail();
  s.setExplanation(s.flowRows()[0].key, { state: 'ready', steps: [{ title: 'step {bold}', lines: ['{red-fg}'] }] });
  const rendered = [
    ...headerLines(s, 200),
    ...renderFlows(s, 200, 10, { top: 0 }),
    ...detailLines(s, s.detailFlow()!),
  ];
  for (const line of rendered) {
    // Every '{' that is not one of our own tags must have been escaped: after removing the tags we
    // emitted, the literal hostile text must be visible exactly, control characters neutralised.
    assert.doesNotMatch(line, /\u001b/);
  }
  const text = rendered.map(stripTags).join('\n');
  assert.match(text, /cali\{red-fg\}x\{\/red-fg\}\?\[2J/);
  assert.match(text, /n\{bold\}1/);
  assert.match(text, /\{blink\}k 3/);
  assert.match(text, /why \{underline\}/);
  assert.match(text, /eth\{\/\}/);
  assert.match(text, /step \{bold\}/);
  assert.equal(escapeMarkup('{red-fg}'), '{open}red-fg{close}');
});

test('route changes are highlighted with a word, then age out', () => {
  const s = new Store({ routeHighlightMs: 1000 });
  const r = (key: string, text: string) => ({ key, text, table: 'main' });
  s.setRoutes([r('a', '10.233.101.222 dev cali11299111064 scope link'), r('b', 'blackhole 10.233.101.192/26 proto 80')], 0);
  assert.ok(s.routeRows().every((x) => !x.change), 'the first load is the baseline, not a change');
  s.setRoutes([r('a', '10.233.101.222 dev cali11299111064 scope link'), r('c', '10.233.101.230 dev cali0 scope link')], 100);
  const text = stripTags(renderRoutes(s, 100, 10).join('\n'));
  assert.match(text, /\+ NEW\s+10\.233\.101\.230 dev cali0/);
  assert.match(text, /- GONE\s+blackhole 10\.233\.101\.192\/26/);
  s.tick(2000);
  const later = stripTags(renderRoutes(s, 100, 10).join('\n'));
  assert.doesNotMatch(later, /NEW|GONE/);
  assert.doesNotMatch(later, /blackhole/);
});

test('every loss counter is shown, zero or not, even at 80 columns', () => {
  const s = new Store();
  s.setStatus({
    node: 'ems203-w2',
    mode: 'packet',
    interfaces: ['cali11299111064', 'caliaa479e31ff6', 'vxlan.calico', 'ens3'],
    subscribers: 2,
    counters: [
      { name: 'kernel', value: 0 },
      { name: 'pipe', value: 4 },
      { name: 'loader-restarts', value: 1 },
      { name: 'some-new-counter', value: 0 },
    ],
  });
  s.addLoss('this-client', 9);
  const lines = headerLines(s, 80).map(stripTags);
  for (const l of lines) assert.ok(l.length <= 80, `header line over 80 columns: '${l}'`);
  const text = lines.join('\n');
  for (const want of ['kernel 0', 'pipe 4', 'collector 0', 'subscribers 0', 'this-client 9', 'loader-restarts 1', 'some-new-counter 0']) {
    assert.ok(text.includes(want), `missing '${want}' in:\n${text}`);
  }
});

test('long detail lines wrap at spaces within the width; tags take no room, escaped braces one', () => {
  const line = '{bold}Verdict{/bold}  left via vxlan.calico → ens3, encapsulated to 172.27.71.12 {open}VNI 4096{close} as predicted';
  const wrapped = wrapMarkup(line, 30, 3);
  assert.ok(wrapped.length > 1);
  for (const w of wrapped) assert.ok(stripTags(w).length <= 30, `'${stripTags(w)}' is wider than 30`);
  assert.equal(wrapped.map(stripTags).map((w, i) => (i ? w.slice(3) : w)).join(' '), stripTags(line));
  assert.deepEqual(wrapMarkup('short', 30), ['short']);
});

test('the / filter uses the API language: a valid one filters rows, an invalid one is reported and not applied', () => {
  const s = new Store();
  s.ingest(verdict('10.233.101.222', '10.233.101.224', 1));
  // The blackhole: seen entering, predicted to end here (no egress device).
  s.ingest(verdict('10.233.101.222', '10.233.101.230', 2, { verdict: 'EXPECTED_DROP', observed: [{ iface: 'cali11299111064', dir: 'ingress', timeNs: 1 }], predicted: ['cali11299111064'] }));
  const ok = compileUiFilter('verdict=EXPECTED_DROP or dst=10.233.101.224 !iface=caliaa*');
  assert.ok(ok.ok);
  if (ok.ok) s.setFilter('verdict=EXPECTED_DROP or dst=10.233.101.224 !iface=caliaa*', ok.match, ok.matchFlow);
  // The .224 flow crossed caliaa479e31ff6: the deny term removes it.
  assert.deepEqual(s.flowRows().map((r) => r.dst), ['10.233.101.230']);
  const bad = compileUiFilter('verdict=NOPE');
  assert.equal(bad.ok, false);
  if (!bad.ok) s.rejectFilter('verdict=NOPE', bad.error);
  assert.match(s.filterError ?? '', /invalid filter 'verdict=NOPE': verdict 'NOPE' is unknown/);
  assert.equal(s.filterText, 'verdict=EXPECTED_DROP or dst=10.233.101.224 !iface=caliaa*', 'the previous filter stays');
  assert.deepEqual(s.flowRows().map((r) => r.dst), ['10.233.101.230']);
  s.setFilter('', null);
  assert.equal(s.flowRows().length, 2);
});

test('loss totals from the stream beat an older Status, and an old Status is labelled with its age', () => {
  const s = new Store();
  s.setStatus({ node: 'n', mode: 'packet', interfaces: [], subscribers: 1, counters: [{ name: 'kernel', value: 10 }] }, 1_000);
  s.setLossTotal('kernel', 620_740);
  const now = Date.now();
  s.statusAtMs = now - 7_000;
  const text = headerLines(s, 120).map(stripTags).join('\n');
  assert.match(text, /lost \(\d+s old\): kernel 620740/);
  s.setStatus({ ...s.status }, Date.now());
  assert.match(headerLines(s, 120).map(stripTags).join('\n'), /lost: kernel 620740/);
});

test("a flow is the collector's flow: the API's key folds replies and NATed replies into the first packet's row", () => {
  const s = new Store();
  const ping = { icmp: { type: 8, code: 0, id: 7, seq: 1 } };
  // No key from the server (an older one): the collector's rule, computed here, still folds the reply.
  s.ingest(verdict('10.233.101.222', '10.233.101.224', 1000, ping));
  s.ingest(verdict('10.233.101.224', '10.233.101.222', 1001, { icmp: { type: 0, code: 0, id: 7, seq: 1 }, verdict: 'DROPPED' }));
  // A Service: the request to the VIP, the reply from the backend; the server's key says they are one.
  const key = '6|10.233.101.222:40000|10.96.0.10:80';
  s.ingest(verdict('10.233.101.222', '10.96.0.10', 2000, { proto: 6, sport: 40000, dport: 80, flowKey: key, nat: { dst: { from: '10.96.0.10:80', to: '10.233.101.224:8080' } } }));
  s.ingest(verdict('10.233.101.224', '10.233.101.222', 2001, { proto: 6, sport: 8080, dport: 40000, flowKey: key, nat: { src: { from: '10.233.101.224:8080', to: '10.96.0.10:80' } } }));
  s.ingest(verdict('10.233.101.222', '10.96.0.10', 2002, { proto: 6, sport: 40000, dport: 80, flowKey: key }));
  assert.equal(s.flowCount(), 2);
  const [svc, icmp] = s.flowRows();
  assert.deepEqual([svc.key, svc.src, svc.dst, svc.sport, svc.dport, svc.packets, svc.replies], [key, '10.233.101.222', '10.96.0.10', 40000, 80, 3, 1]);
  assert.deepEqual([icmp.src, icmp.dst, icmp.packets, icmp.replies, icmp.counts.MATCHED, icmp.counts.DROPPED], ['10.233.101.222', '10.233.101.224', 2, 1, 1, 1]);
  // The row's verdict is the forward direction's (as the API's Flow.verdict); the reply's is kept beside it.
  assert.equal(icmp.verdict, 'MATCHED');
  assert.equal(icmp.replyVerdict, 'DROPPED');
});

test('a full flow table evicts the flow seen least recently, not the oldest-created', () => {
  const s = new Store({ maxFlows: 3 });
  s.ingest(verdict('10.2.0.1', '10.0.0.1', 1));
  s.ingest(verdict('10.2.0.2', '10.0.0.1', 2));
  s.ingest(verdict('10.2.0.3', '10.0.0.1', 3));
  s.ingest(verdict('10.2.0.1', '10.0.0.1', 4)); // .1 is busy again: .2 is now the quietest
  s.ingest(verdict('10.2.0.4', '10.0.0.1', 5));
  assert.deepEqual(s.flowRows().map((r) => r.src).sort(), ['10.2.0.1', '10.2.0.3', '10.2.0.4']);
  assert.equal(s.flowsEvicted, 1);
});

test('a filtered flow stays while its replies arrive: flows are matched by their forward direction', () => {
  const s = new Store();
  const f = compileUiFilter('dst=10.233.101.224');
  assert.ok(f.ok);
  if (f.ok) s.setFilter('dst=10.233.101.224', f.match, f.matchFlow);
  s.ingest(verdict('10.233.101.222', '10.233.101.224', 1, { icmp: { type: 8, code: 0, id: 9, seq: 1 } }));
  assert.equal(s.flowRows().length, 1);
  // The reply goes to .222: the flow is still the .222 → .224 flow the filter asked for.
  s.ingest(verdict('10.233.101.224', '10.233.101.222', 2, { icmp: { type: 0, code: 0, id: 9, seq: 1 } }));
  assert.deepEqual(s.flowRows().map((r) => `${r.src} > ${r.dst} ${r.packets}`), ['10.233.101.222 > 10.233.101.224 2']);
  // The packets view still filters packet by packet: the reply is not to .224.
  assert.deepEqual(s.packetRows().map((v) => v.dst), ['10.233.101.224']);
});

test("case mode: the collector's flow counts become the row's once they are ahead of the verdict lines", () => {
  const s = new Store();
  // One line for the ping's path, one for its replies' (case mode sends a line per new path).
  s.ingest(verdict('10.233.101.222', '10.233.101.224', 1000, { flowKey: 'k1' }));
  s.ingest(verdict('10.233.101.224', '10.233.101.222', 1001, { flowKey: 'k1' }));
  assert.equal(s.eventsTotal, 2);
  const counts = (matched: number, dropped = 0) => ({ MATCHED: matched, DIVERGED: 0, DROPPED: dropped, EXPECTED_DROP: 0, INCOMPLETE: 0, STALE_MODEL: 0 });
  // The kernel counted 6 packets (3 each way): the row and the header follow.
  assert.equal(s.ingestFlowCounts({ key: 'k1', packets: 6, replies: 3, counts: counts(6), lastMs: 1500 }), true);
  const row = s.flowRows().find((r) => r.key === 'k1')!;
  assert.deepEqual([row.packets, row.replies, row.counts.MATCHED, row.lastMs], [6, 3, 6, 1500]);
  assert.equal(s.eventsTotal, 6, 'the header counts judged packets, sent or only counted');
  // A line after the update waits for the next one (which counts it); an update that is not newer changes nothing.
  s.ingest(verdict('10.233.101.222', '10.233.101.224', 1600, { flowKey: 'k1', verdict: 'DROPPED' }));
  assert.equal(s.ingestFlowCounts({ key: 'k1', packets: 6, replies: 3, counts: counts(6), lastMs: 1500 }), false);
  assert.deepEqual([s.flowRows()[0].packets, s.flowRows()[0].counts.DROPPED, s.eventsTotal], [6, 0, 6]);
  assert.equal(s.ingestFlowCounts({ key: 'k1', packets: 9, replies: 4, counts: counts(8, 1), lastMs: 1700 }), true);
  assert.deepEqual([s.flowRows()[0].packets, s.flowRows()[0].counts.MATCHED, s.flowRows()[0].counts.DROPPED, s.eventsTotal], [9, 8, 1, 9]);
  // A flow without a row waits for its first line (it has nothing to name it by yet).
  assert.equal(s.ingestFlowCounts({ key: 'k2', packets: 4, replies: 0, counts: counts(4), lastMs: 1800 }), false);
  assert.equal(s.flowRows().length, 1);
});

test("through a relay: a flow seen by two nodes is the sum of each node's counts, lines or flow updates", () => {
  const s = new Store();
  const counts = (matched: number) => ({ MATCHED: matched, DIVERGED: 0, DROPPED: 0, EXPECTED_DROP: 0, INCOMPLETE: 0, STALE_MODEL: 0 });
  // Packet mode on both nodes: lines only, flow updates behind them change nothing.
  for (const node of ['node1', 'node2']) for (let i = 0; i < 3; i++) s.ingest(verdict('10.233.101.222', '10.233.100.130', 1000 + i, { flowKey: 'x', node }));
  assert.equal(s.ingestFlowCounts({ key: 'x', node: 'node1', packets: 2, replies: 0, counts: counts(2), lastMs: 1100 }), false);
  assert.equal(s.flowRows()[0].packets, 6);
  // Case mode on node2: its counts are ahead of its three lines; node1's lines stay its share.
  assert.equal(s.ingestFlowCounts({ key: 'x', node: 'node2', packets: 10, replies: 0, counts: counts(10), lastMs: 1200 }), true);
  assert.deepEqual([s.flowRows()[0].packets, s.flowRows()[0].counts.MATCHED, s.eventsTotal], [13, 13, 13]);
  s.ingest(verdict('10.233.101.222', '10.233.100.130', 1300, { flowKey: 'x', node: 'node1' }));
  assert.deepEqual([s.flowRows()[0].packets, s.eventsTotal], [14, 14]);
});

test('a client reading a backlog says how far behind it is; history and a client that keeps up do not', () => {
  const s = new Store();
  const header = (now: number) => {
    const real = Date.now;
    Date.now = () => now; // the header reads the wall clock, like the status age above
    try {
      return headerLines(s, 200).map(stripTags).join('\n');
    } finally {
      Date.now = real;
    }
  };
  s.markConnected(100_000);
  // History sent on connect is old by nature: not a backlog.
  s.ingest(verdict('10.0.0.1', '10.0.0.9', 40_000));
  s.noteLag(40_000, 100_050);
  assert.equal(s.backlogS(100_050), undefined);
  assert.doesNotMatch(header(100_050), /behind/);
  // Live items taken in 7 s after they were stamped: the screen shows the past.
  s.ingest(verdict('10.0.0.1', '10.0.0.9', 101_000));
  s.noteLag(101_000, 108_000);
  assert.equal(s.backlogS(108_000), 7);
  assert.match(header(108_000), /7s behind: reading a backlog/);
  // A packet held ~3.5 s for ARP is judged late without any backlog.
  s.noteLag(105_000, 108_600);
  assert.equal(s.backlogS(108_600), undefined);
  // Behind again, then nothing arrives for more than 2 s: caught up (or quiet), the warning goes.
  s.noteLag(103_000, 109_000);
  assert.equal(s.backlogS(110_900), 6);
  assert.equal(s.backlogS(111_100), undefined);
  // A reconnect starts over: what came before it is history again.
  s.markConnected(200_000);
  s.noteLag(150_000, 200_010);
  assert.equal(s.backlogS(200_010), undefined);
});
