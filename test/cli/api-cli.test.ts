// `calitrace serve` and `calitrace observe` command lines without a server: help with EXAMPLES, and
// usage mistakes answered with exit 2 and a message that says the fix (before anything starts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { resolve } from 'node:path';

const BIN = resolve(__dirname, '../../../bin/calitrace.js');

function cli(...args: string[]) {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', timeout: 20000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

test('serve and observe have --help with an EXAMPLES block and are listed', () => {
  for (const cmd of ['serve', 'observe']) {
    const r = cli(cmd, '--help');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`\\nEXAMPLES\\n {2}calitrace ${cmd} `));
  }
  const top = cli('--help').stdout;
  assert.match(top, /^ {2}serve +run the tracer and the gRPC API/m);
  assert.match(top, /^ {2}observe +print verdicts/m);
});

test('usage mistakes exit 2 and say what to do', () => {
  const cases: [string[], RegExp][] = [
    [['serve', '--listen', '10.0.0.1:4245'], /without encryption.*--tls-cert and --tls-key.*--insecure/],
    [['serve', '--tls-cert', 'x.pem'], /--tls-cert and --tls-key go together/],
    [['serve', '--listen', 'unix:relative.sock'], /needs an absolute path/],
    [['serve', '--listen', 'nonsense'], /cannot read listen address 'nonsense'/],
    [['serve', '--token-file', '/nonexistent/token'], /cannot read --token-file/],
    [['serve', '--mode', 'fast'], /--mode takes packet, flow or case/],
    [['observe', '-o', 'yaml'], /-o takes compact, json, table or dict/],
    [['observe', '--since', 'yesterday'], /--since takes a duration ago/],
    [['observe', 'port=99999'], /invalid filter: port '99999' is not a number from 0 to 65535/],
    [['observe', '--verdict', 'SORT_OF'], /invalid filter: verdict 'SORT_OF' is unknown/],
    [['observe', '--tls-client-cert', 'c.pem'], /needs both --tls-client-cert and --tls-client-key/],
    [['observe', '--frobnicate'], /unknown option --frobnicate\nSee: calitrace observe --help/],
  ];
  for (const [args, re] of cases) {
    const r = cli(...args);
    assert.equal(r.code, 2, `${args.join(' ')}: exit ${r.code}, ${r.stderr}`);
    assert.match(r.stderr, re, args.join(' '));
  }
});
