// One vocabulary: every protocol name calitrace prints is accepted by every filter it offers (the kernel
// filter of trace/serve, the API/observe/UI filter language, explain --proto, a pasted `ip rule
// ipproto`), and the verdict list behind the type is the one the API's enum and the filters use.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PROTOCOLS, VERDICTS, emptyVerdictCounts, protocolName, protocolNumber } from '../../src/vocabulary';
import { parseProto, parseCidr } from '../../src/capture/filter';
import { compileFilterSet, parseFilterText } from '../../src/hub/filter';
import { compileUiFilter } from '../../src/tui/filter';
import { ipprotoNumber } from '../../src/routing/iproute-json';
import { protoPorts } from '../../src/tui/views/format';
import { calitrace } from '../../src/api/proto';
import type { UiVerdict } from '../../src/tui/model';

function uiVerdict(proto: number): UiVerdict {
  return {
    fingerprint: 'f', timeMs: 1, family: proto === 58 ? 6 : 4, proto, src: '10.233.101.222', dst: '10.233.101.224',
    sport: 0, dport: 0, verdict: 'MATCHED', reason: '', warnings: [], observed: [], predicted: [],
  };
}

test('every printed protocol name is accepted by every filter, and means the same number', () => {
  // The numbers people meet on a Calico node, whether or not the table names them.
  for (const n of [1, 6, 17, 47, 50, 58, 132, 4, 41]) {
    const printed = protocolName(n);
    const shownInUi = protoPorts({ proto: n, sport: 0, dport: 0 });
    assert.equal(shownInUi.split(' ')[0], printed, 'the UI prints the shared name');
    assert.equal(parseProto(printed), n, `trace --proto ${printed}`);
    assert.equal(ipprotoNumber(printed), n, `ip rule ipproto ${printed}`);
    const hub = compileFilterSet(parseFilterText(`proto=${printed}`));
    assert.equal(hub({ type: 'VERDICT', proto: n }), true, `observe proto=${printed}`);
    assert.equal(hub({ type: 'VERDICT', proto: n === 6 ? 17 : 6 }), false, `observe proto=${printed} rejects other protocols`);
    const ui = compileUiFilter(`proto=${printed}`);
    assert.ok(ui.ok, `the UI's / filter accepts proto=${printed}: ${ui.ok ? '' : ui.error}`);
    if (ui.ok) assert.equal(ui.match(uiVerdict(n)), true);
  }
  // The spellings other tools print are accepted too, for the same number.
  for (const [alias, n] of [['icmp6', 58], ['ipv6-icmp', 58], ['ICMPv6', 58], ['TCP', 6]] as const) {
    assert.equal(protocolNumber(alias), n);
    assert.equal(parseProto(alias), n);
    assert.equal(compileFilterSet(parseFilterText(`proto=${alias}`))({ type: 'VERDICT', proto: n }), true);
  }
  assert.equal(new Set(PROTOCOLS.map((p) => p.name)).size, PROTOCOLS.length, 'one name per protocol');
  assert.throws(() => parseProto('tcpp'), /unknown protocol 'tcpp'/);
  assert.throws(() => parseFilterText('proto=256'), /protocol '256' is unknown/);
});

test('the verdict list is the API enum, the filters and the counts', () => {
  const wire = Object.keys(calitrace.v1.Verdict).filter((k) => k !== 'VERDICT_UNSPECIFIED' && Number.isNaN(Number(k)));
  assert.deepEqual([...VERDICTS].sort(), wire.sort());
  assert.deepEqual(Object.keys(emptyVerdictCounts()), [...VERDICTS]);
  for (const v of VERDICTS) {
    assert.equal(compileFilterSet(parseFilterText(`verdict=${v.toLowerCase()}`))({ type: 'VERDICT', verdict: v }), true);
  }
  assert.throws(() => parseFilterText('verdict=MATCH'), /verdict 'MATCH' is unknown; use one of MATCHED, DIVERGED/);
});

test('one IPv6 parser: the kernel filter reads addresses as the route model does', () => {
  assert.equal(parseCidr('fd00:0:0:0::1/64').text, 'fd00::/64');
  assert.equal(parseCidr('2001:db8:0:0:1:0:0:1').text, '2001:db8::1:0:0:1/128', 'RFC 5952: the longest zero run is compressed');
  assert.equal(parseCidr('::ffff:10.233.101.222').text, '::ffff:ae9:65de/128');
  assert.deepEqual([...parseCidr('fd00::ff/120').addr.slice(14)], [0, 0]);
  for (const bad of ['fd00::1::2', 'fe80::1%eth0', 'fd00::/129', '10.0.0.1/33', 'default', '10.0.0.1/8/8', 'fd00::/x']) {
    assert.throws(() => parseCidr(bad), /bad address/, bad);
  }
});
