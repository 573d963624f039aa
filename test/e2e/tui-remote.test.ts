// `calitrace ui` as a remote client: the node's API on TCP with TLS, mutual TLS and a bearer token (as it
// would be exposed off the node), the UI dialling it with the CA, a client certificate and the token.
// With a wrong token the UI says UNAUTHENTICATED and shows no data; with the right one, live flows.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import * as fs from 'node:fs';
import { ChildProcess, spawn } from 'node:child_process';
import { PtyScreen } from '../helpers/tui-pty';
import { withLab } from '../helpers/lab';
import { makeTestCerts } from '../helpers/certs';
import { labExecArgv, nodeNetns } from '../../src/lab';

const BIN = path.join(__dirname, '..', '..', '..', 'bin', 'calitrace.js');

/** Waits for serve to print its address (it binds port 0: the kernel picks a free port). */
function addressOf(serve: ChildProcess, log: () => string, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`serve printed no address within ${timeoutMs} ms:\n${log()}`)), timeoutMs);
    const check = () => {
      const m = /API on (127\.0\.0\.1:\d+|localhost:\d+)/.exec(log());
      if (m) {
        clearTimeout(t);
        resolve(m[1]);
      } else if (serve.exitCode !== null) {
        clearTimeout(t);
        reject(new Error(`serve exited ${serve.exitCode}:\n${log()}`));
      }
    };
    serve.stderr!.on('data', check);
    serve.on('exit', check);
  });
}

test('calitrace ui over TLS + client certificate + token: refused without the token, live flows with it', { timeout: 180_000 }, async () => {
  const certs = makeTestCerts();
  const tokenFile = path.join(certs.dir, 'token');
  fs.writeFileSync(tokenFile, 'sesame-4245\n', { mode: 0o600 });
  try {
    await withLab(async (lab) => {
      let log = '';
      const serve = spawn(
        process.execPath,
        [BIN, 'serve', '--netns', nodeNetns(lab.prefix, 'node1'), '--listen', '127.0.0.1:0',
          '--tls-cert', certs.serverCert, '--tls-key', certs.serverKey, '--tls-client-ca', certs.clientCa, '--token-file', tokenFile],
        { stdio: ['ignore', 'pipe', 'pipe'] },
      );
      serve.stdout!.on('data', (d: Buffer) => (log += d.toString()));
      serve.stderr!.on('data', (d: Buffer) => (log += d.toString()));
      const pings: ChildProcess[] = [];
      const uis: PtyScreen[] = [];
      try {
        const addr = await addressOf(serve, () => log, 30_000);
        const tlsArgs = ['--tls-ca', certs.ca, '--tls-client-cert', certs.clientCert, '--tls-client-key', certs.clientKey, '--tls-server-name', 'localhost'];
        const argv = labExecArgv(lab.prefix, '10.233.101.222', ['ping', '-n', '-q', '-i', '0.2', '-W', '1', '10.233.101.224']);
        pings.push(spawn(argv[0], argv.slice(1), { stdio: 'ignore' }));

        // Wrong token: refused, said so, nothing shown.
        const bad = new PtyScreen(process.execPath, [BIN, 'ui', '--server', addr, ...tlsArgs, '--token', 'wrong'], { cols: 120, rows: 30 });
        uis.push(bad);
        const refused = await bad.waitForText(/DISCONNECTED: UNAUTHENTICATED/, 30_000);
        assert.match(refused, /No flows yet/);
        bad.press('q');
        assert.equal((await bad.exited).exitCode, 0);

        // Right token: live flows from the node.
        const good = new PtyScreen(process.execPath, [BIN, 'ui', '--server', addr, ...tlsArgs, '--token', 'sesame-4245'], { cols: 120, rows: 30 });
        uis.push(good);
        const row = await good.waitFor(
          'the same-node flow over the TLS connection',
          (_t, ls) => ls.find((l) => l.includes('10.233.101.222') && l.includes('→ 10.233.101.224') && /MATCHED/.test(l)),
          60_000,
        );
        assert.match(row, /cali11299111064>caliaa479e31ff6/);
        assert.doesNotMatch(good.text(), /DISCONNECTED/);
        good.press('q');
        assert.equal((await good.exited).exitCode, 0);
      } finally {
        for (const u of uis) await u.kill();
        for (const p of pings) {
          if (p.exitCode === null && p.signalCode === null) {
            p.kill('SIGTERM');
            await new Promise((r) => p.once('exit', r));
          }
        }
        if (serve.exitCode === null && serve.signalCode === null) {
          serve.kill('SIGTERM');
          await new Promise((r) => serve.once('exit', r));
        }
      }
    });
  } finally {
    certs.cleanup();
  }
});
