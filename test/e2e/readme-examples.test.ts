// README.md's examples, run as written against a real lab: every command of every indented example block
// and the `console` transcript are parsed from README.md itself (so they cannot drift from what is
// tested), then run with the lab's prefix in CALITRACE_LAB_PREFIX (the README names the default lab's node
// `ct-node1`; that variable makes `ct-node1` mean this test's lab). One-shot commands must exit 0 and say
// something; commands that run until stopped (serve, follow, --no-ui traces) must print what they are for
// while traffic flows, then stop cleanly on Ctrl-C; terminal UIs run in a pty and must draw verdicts, then
// quit on 'q'. "Running it on a real node" runs inside the lab's node1 namespace (the node it stands for).
// The only mock is the Kubernetes API server behind the kubeconfig example (test/helpers/mock-kube-api.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { withLab } from '../helpers/lab';
import { mustExec } from '../helpers/path-lab';
import { PtyScreen } from '../helpers/tui-pty';
import { makeTestCerts } from '../helpers/certs';
import { mockKubeconfig, startMockKubeApi } from '../helpers/mock-kube-api';
import { labUp, nodeNetns } from '../../src/lab';
import { readmeExamples } from '../helpers/readme';

const ROOT = path.resolve(__dirname, '..', '..', '..');
const README = path.join(ROOT, 'README.md');
const TOKEN = 'readme-mock-token';

interface Run {
  proc: ChildProcess;
  out: () => string;
  err: () => string;
  done: Promise<number>;
}

/** Every command started, so a failing example cannot leave its calitrace running after the test. */
const started: ChildProcess[] = [];

function shell(command: string, env: NodeJS.ProcessEnv, cwd: string): Run {
  const proc = spawn('bash', ['-c', command], { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
  started.push(proc);
  let out = '';
  let err = '';
  proc.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  proc.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const done = new Promise<number>((r) => proc.on('close', (code, signal) => r(code ?? (signal ? 128 : -1))));
  return { proc, out: () => out, err: () => err, done };
}

/**
 * SIGINT to the command (bash runs a simple command in its own process, so this is calitrace itself), as
 * `kill -INT` would. Not to the whole process group: a terminal's Ctrl-C also reaches calitrace's helper
 * processes (ip monitor), whose clean handling is issue 6's (the lifecycle) to fix and test.
 */
function interrupt(r: Run): void {
  try {
    process.kill(r.proc.pid!, 'SIGINT');
  } catch {
    /* already gone */
  }
}

async function until<T>(get: () => T | undefined | null | false, ms: number, what: string): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = get();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let t: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([p, new Promise<T>((_, rej) => (t = setTimeout(() => rej(new Error(`timed out after ${ms} ms: ${what}`)), ms)))]);
  } finally {
    clearTimeout(t);
  }
}

/** The transcript line as a pattern: its time and latency vary, the rest must be as printed. */
function transcriptPattern(line: string): RegExp {
  const esc = line.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return new RegExp(`^${esc.replace(/^\d\d:\d\d:\d\d\\\.\d{3}/, '\\d\\d:\\d\\d:\\d\\d\\.\\d{3}').replace(/latency [\d\\.]+µs/, 'latency [\\d.]+µs').replace(/seq \d+/, 'seq \\d+')}$`, 'm');
}

const isUi = (c: string) => /^(npm run demo|calitrace ui\b|calitrace trace\b)/.test(c) && !/--no-ui|--write/.test(c);
const runsUntilStopped = (c: string) => /^calitrace serve\b/.test(c) || /\bobserve\b.*\s-f\b/.test(c) || (/^calitrace trace (--no-ui|.*--write)/.test(c) && !/--count|--duration/.test(c));
/** The README's grpcurl lines are run, as written, by the strict-client test (it reads them from README.md itself). */
const REFLECTION_TEST = path.join(ROOT, 'test', 'e2e', 'reflection-strict.test.ts');

test('README examples run as written against a lab', { timeout: 900_000 }, async () => {
  const examples = readmeExamples(fs.readFileSync(README, 'utf8'));
  // The parser sees every kind: explain, trace, serve/observe/status/ui, lab, the real-node ones, the demo.
  for (const want of [/^npm run demo$/, /^calitrace explain .*--short$/, /^calitrace trace --netns ct-node1$/, /^calitrace status$/, /^calitrace lab list$/, /^calitrace serve --netns ct-node1 --kubeconfig/]) {
    assert.ok(examples.some((e) => want.test(e.command)), `README has an example ${want}`);
  }
  assert.ok(examples.some((e) => e.expect), 'README has a transcript');
  // A trace or serve example names the lab node it watches (--netns ct-node1), except where the README
  // stands on a real node: without it, it would trace the test's own namespace, where no pod talks (the
  // case-mode example once printed nothing for 60 s for this reason).
  for (const e of examples) {
    if (/^calitrace (trace|serve)\b/.test(e.command) && !/--netns/.test(e.command)) {
      assert.ok(e.section.startsWith('Running it on a real node'), `README example outside "Running it on a real node" without --netns: ${e.command}`);
    }
  }
  const certs = makeTestCerts();
  const mock = await startMockKubeApi(certs, { token: TOKEN });
  const cwd = fs.mkdtempSync(path.join(os.tmpdir(), 'readme-'));
  const ran: string[] = [];
  try {
    await withLab(async (lab) => {
      const node1 = nodeNetns(lab.prefix, 'node1');
      const env: NodeJS.ProcessEnv = { ...process.env, CALITRACE_LAB_PREFIX: lab.prefix, PATH: `${path.join(ROOT, 'bin')}:${process.env.PATH}`, COLUMNS: '160' };
      mock.pods.push({ namespace: 'shop', name: 'frontend-0', ip: '10.233.101.222', node: 'ems203-w2' });
      fs.writeFileSync(path.join(cwd, 'kubeconfig.yaml'), mockKubeconfig(mock.url, { 'certificate-authority': certs.ca }, { token: TOKEN }, 'prod'));
      // kube-proxy's DNAT for the NAT transcript (below): a Service address 10.96.0.10 in front of pod .224.
      // Traffic all along: same node, across nodes, into the blackhole, through the Service.
      const startTraffic = () =>
        shell(
          `ip netns exec ${lab.prefix}-cali11299111064 sh -c 'while :; do for d in 10.233.101.224 10.233.100.130 10.233.101.230 10.96.0.10; do ping -n -c1 -W1 $d >/dev/null; done; sleep 0.2; done'`,
          env,
          cwd,
        );
      const dnat = () =>
        mustExec(lab, 'node1', ['sh', '-c', [
          'nft add table ip readme_nat',
          "nft add chain ip readme_nat pre '{ type nat hook prerouting priority -100; }'",
          'nft add rule ip readme_nat pre ip daddr 10.96.0.10 meta l4proto icmp dnat to 10.233.101.224',
        ].join(' && ')]);
      await dnat();
      let serve: Run | undefined;
      let traffic = startTraffic();
      try {
        let section = '';
        for (const ex of examples) {
          if (ex.section !== section && serve) {
            // The API examples of a section talk to its serve; the next section does not need it.
            interrupt(serve);
            assert.equal(await withTimeout(serve.done, 30_000, 'serve to stop'), 0, `serve: ${serve.err()}`);
            serve = undefined;
          }
          section = ex.section;
          const onNode = ex.section.startsWith('Running it on a real node');
          // A capture outside the real-node section must name its namespace: run as written here, it would
          // attach to this machine's own (root) namespace, which tests never touch.
          if (!onNode && /^calitrace (trace|serve)\b/.test(ex.command)) assert.match(ex.command, /--netns /, `${ex.section}: ${ex.command} needs --netns ct-node1 (it would trace the root namespace)`);
          const command = onNode && !/--netns/.test(ex.command) ? `ip netns exec ${node1} ${ex.command}` : ex.command;
          const what = `${ex.section}: ${ex.command}`;
          ran.push(ex.command);
          if (/^grpcurl /.test(ex.command)) {
            const t = fs.readFileSync(REFLECTION_TEST, 'utf8');
            assert.match(t, /const README = path\.join\(ROOT, 'README\.md'\)/, `${what}: run by ${REFLECTION_TEST} from the README`);
            assert.match(t, /--readme', README/, `${what}: run by ${REFLECTION_TEST} from the README`);
            continue;
          }
          if (ex.expect) {
            const r = shell(command, env, cwd);
            const pattern = transcriptPattern(ex.expect);
            await until(() => pattern.test(r.out()), 60_000, `${what} to print a line like the README's (stdout: ${r.out()} stderr: ${r.err()})`);
            interrupt(r);
            assert.equal(await withTimeout(r.done, 30_000, what), 0, `${what}: ${r.err()}`);
            continue;
          }
          if (isUi(ex.command)) {
            const [file, ...args] = ['bash', '-c', command];
            const screen = new PtyScreen(file, args, { cols: 160, rows: 40, env: env as Record<string, string>, cwd: /^npm/.test(command) ? ROOT : cwd });
            try {
              await screen.waitForText(/MATCHED/, 240_000);
              screen.press('q');
              const e = await withTimeout(screen.exited, 60_000, `${what} to quit on q`);
              assert.equal(e.exitCode, 0, `${what}: ${screen.raw.slice(-400)}`);
            } finally {
              await screen.kill();
            }
            continue;
          }
          if (runsUntilStopped(ex.command)) {
            const r = shell(command, env, cwd);
            if (/^calitrace serve\b/.test(command)) {
              if (serve) {
                // One API address: the previous example's serve makes way for this one.
                interrupt(serve);
                assert.equal(await withTimeout(serve.done, 30_000, 'serve to stop'), 0, `serve: ${serve.err()}`);
                serve = undefined;
              }
              await until(() => /API on /.test(r.err()), 60_000, `${what} to listen (stderr: ${r.err()})`);
              if (/--kubeconfig/.test(command)) {
                await until(() => /pod names: \d+ pod IPs? loaded from the Kubernetes API/.test(r.err()), 30_000, `${what} to load pods (stderr: ${r.err()})`);
                interrupt(r);
                assert.equal(await withTimeout(r.done, 30_000, what), 0, `${what}: ${r.err()}`);
              } else {
                serve = r; // the next examples in the section talk to it; stopped at the end
              }
              continue;
            }
            // Per-hop records (`observe -f --type packet`, `trace --events`) print hooks, not verdicts.
            const wanted = /--type packet|--events/.test(command) ? /cali11299111064 (in|drop) .* icmp /m : /observe/.test(command) ? /(DROPPED|EXPECTED_DROP) /m : /MATCHED /m;
            await until(() => wanted.test(r.out()), 60_000, `${what} to print (stdout: ${r.out()} stderr: ${r.err()})`);
            interrupt(r);
            assert.equal(await withTimeout(r.done, 30_000, what), 0, `${what}: ${r.err()}`);
            continue;
          }
          const file = /--write (?!-)(\S+)/.exec(command)?.[1];
          let r = shell(command, env, cwd);
          let code = await withTimeout(r.done, 120_000, what);
          // `observe --last N` reads the history of a serve started a moment ago: on a slow machine the
          // drops it asks for may not have happened yet. Asked again, as a person would, for up to 30 s.
          for (const until = Date.now() + 30_000; /^calitrace observe --last/.test(command) && code === 0 && Date.now() < until; ) {
            if (file ? fs.statSync(path.join(cwd, file)).size > 100 : r.out().trim().length > 0) break;
            await new Promise((res) => setTimeout(res, 1000));
            r = shell(command, env, cwd);
            code = await withTimeout(r.done, 120_000, what);
          }
          assert.equal(code, 0, `${what} exited ${code}\nstdout: ${r.out()}\nstderr: ${r.err()}`);
          if (file) assert.ok(fs.statSync(path.join(cwd, file)).size > 100, `${what} wrote ${file}`);
          else assert.ok(r.out().trim().length > 0 || /^calitrace lab (up|down|pod)/.test(command), `${what} printed nothing`);
          if (/^calitrace explain .*--server|^calitrace explain [\d.]+ 10\.233\.101\.224 --netns/.test(command)) {
            assert.match(r.out(), /^Ingress: cali11299111064 — 10\.233\.101\.222 is a pod of this node/, what);
          }
          if (/\|\| echo "refused/.test(command)) assert.match(r.out(), /refused: exit status 1$/m, what);
          if (/^calitrace status$/.test(command)) assert.match(r.out(), /^Losses: +nothing lost$/m, what);
          if (/^calitrace lab down$/.test(command)) {
            await mustExec(lab, 'node1', ['true']).then(
              () => assert.fail('lab down left node1 behind'),
              () => undefined,
            );
            // The examples after it (a real node's) need the node again: the test builds it back.
            await traffic.done;
            await labUp({ prefix: lab.prefix });
            await dnat();
            traffic = startTraffic();
          }
        }
      } finally {
        if (serve) {
          interrupt(serve);
          await serve.done;
        }
        traffic.proc.kill('SIGKILL');
        await traffic.done;
        // An example that failed while running is still running: stop it (SIGINT first, so its hooks come off).
        const left = started.filter((p) => p.exitCode === null && p.signalCode === null);
        for (const p of left) p.kill('SIGINT');
        await Promise.all(left.map((p) => new Promise<void>((r) => { const t = setTimeout(() => { p.kill('SIGKILL'); r(); }, 10_000); p.on('close', () => { clearTimeout(t); r(); }); })));
        // `lab up --prefix lab2` is an example: take that lab down even if the test failed before its `down`.
        await new Promise((r) => spawn('bash', ['-c', 'calitrace lab down --prefix lab2'], { env, stdio: 'ignore' }).on('close', r));
      }
    });
  } finally {
    await mock.close();
    fs.rmSync(cwd, { recursive: true, force: true });
  }
  assert.equal(ran.length, examples.length, 'every example ran');
});
