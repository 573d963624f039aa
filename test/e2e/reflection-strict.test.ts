// Server reflection as a strict, independent client sees it: test/e2e/strict-client.py (Debian's
// python3-grpcio with the C++ protobuf runtime, no .proto file, no generated code) against
// `calitrace serve` on a lab node with real pings. It loads every file by symbol and by name into fresh
// descriptor pools, runs the README's grpcurl commands (list, describe, Status, Explain, a filtered
// Observe), and its answers are checked against `calitrace observe -o json` for the same traffic. The
// descriptor bytes it received must be exactly what Debian's protoc builds from the .proto files now.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFile, execFileSync, ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { withLab } from '../helpers/lab';
import { labExec } from '../../src/lab';
import { stopProcess, waitUntil } from '../helpers/api';

const ROOT = path.resolve(__dirname, '..', '..', '..');
const BIN = path.join(ROOT, 'bin', 'calitrace.js');
const CLIENT = path.join(ROOT, 'test', 'e2e', 'strict-client.py');
const README = path.join(ROOT, 'README.md');
const PYTHON = '/usr/bin/python3'; // Debian's, with python3-grpcio and the C++ protobuf runtime

function run(cmd: string, args: string[], timeout = 60000): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) =>
    execFile(cmd, args, { timeout, maxBuffer: 64 << 20 }, (err, stdout, stderr) =>
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    ),
  );
}

/** The FileDescriptorProtos of a FileDescriptorSet (field 1, length-delimited), as raw bytes by name. */
function splitDescriptorSet(set: Buffer): Map<string, Buffer> {
  const varint = (b: Buffer, at: number): [number, number] => {
    let v = 0;
    let shift = 1;
    for (;;) {
      const byte = b[at++];
      v += (byte & 0x7f) * shift;
      shift *= 128;
      if (byte < 0x80) return [v, at];
    }
  };
  const files = new Map<string, Buffer>();
  for (let at = 0; at < set.length; ) {
    let tag: number;
    let len: number;
    [tag, at] = varint(set, at);
    assert.equal(tag, (1 << 3) | 2, 'a FileDescriptorSet holds only field 1, length-delimited');
    [len, at] = varint(set, at);
    const file = set.subarray(at, at + len);
    at += len;
    // FileDescriptorProto.name is field 1, and protoc writes it first.
    let nameLen: number;
    let p: number;
    assert.equal(file[0], (1 << 3) | 2);
    [nameLen, p] = varint(file, 1);
    files.set(file.subarray(p, p + nameLen).toString('utf8'), Buffer.from(file));
  }
  return files;
}

/** What protoc builds right now from every .proto under proto/ plus gRPC's reflection protos. */
function protocNow(): Map<string, Buffer> {
  const reflectionDir = path.join(path.dirname(require.resolve('@grpc/reflection/package.json')), 'build', 'proto');
  const ours = execFileSync('find', ['proto', '-name', '*.proto'], { cwd: ROOT, encoding: 'utf8' }).trim().split('\n').map((f) => path.relative('proto', f));
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'calitrace-protoc-'));
  try {
    const out = path.join(tmp, 'set.pb');
    execFileSync('protoc', ['--include_imports', '--include_source_info', `--descriptor_set_out=${out}`, '-I', 'proto', '-I', reflectionDir,
      ...ours, 'grpc/reflection/v1/reflection.proto', 'grpc/reflection/v1alpha/reflection.proto'], { cwd: ROOT });
    return splitDescriptorSet(fs.readFileSync(out));
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

/** Both JSON dialects on one footing: proto3 JSON omits defaults and writes 64-bit numbers as strings;
 * `observe -o json` fills defaults (zero enums by name), writes numbers, and names the oneof in `item`. */
function canon(v: unknown): unknown {
  if (Array.isArray(v)) return v.length === 0 ? undefined : v.map(canon);
  if (v && typeof v === 'object') {
    const o: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v).sort(([a], [b]) => a.localeCompare(b))) {
      if (k === 'item') continue;
      const c = canon(x);
      if (c !== undefined) o[k] = c;
    }
    return Object.keys(o).length ? o : undefined;
  }
  if (typeof v === 'string' && /^-?\d+$/.test(v)) return canon(Number(v));
  if (v === null || v === '' || v === 0 || v === false || (typeof v === 'string' && v.endsWith('_UNSPECIFIED'))) return undefined;
  return v;
}

interface StrictOutput {
  implementation: string;
  services: string[];
  services_v1alpha: string[];
  files: Record<string, string>;
  commands: { argv: string[]; op: 'list' | 'describe' | 'call'; request?: Record<string, unknown>; output: any }[];
}

test('a strict python3-grpcio client (C++ protobuf, no .proto) loads the reflection descriptors and runs the README grpcurl commands on a lab node', async () => {
  await withLab(async (lab) => {
    const node1 = lab.nodes.find((n) => n.id === 'node1')!;
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'calitrace-strict-'));
    const sock = path.join(dir, 'api.sock');
    const server: ChildProcess = spawn(process.execPath, [BIN, 'serve', '--netns', node1.netns, '--mode', 'packet', '--listen', `unix:${sock}`], { stdio: ['ignore', 'pipe', 'pipe'] });
    let log = '';
    server.stdout!.on('data', (d) => (log += d));
    server.stderr!.on('data', (d) => (log += d));
    try {
      await waitUntil(() => /API on unix:/.test(log) || server.exitCode !== null, 'calitrace serve to listen', 30000);
      assert.match(log, /API on unix:/, log);

      // Real traffic: 3 same-node echo requests (and replies), one into the IPAM-block blackhole.
      assert.equal((await labExec(lab.prefix, '10.233.101.222', ['ping', '-c', '3', '-i', '0.2', '-W', '1', '10.233.101.224'])).code, 0);
      assert.notEqual((await labExec(lab.prefix, '10.233.101.222', ['ping', '-c', '1', '-W', '1', '10.233.101.230'])).code, 0);
      const observeArgs = ['observe', '--server', `unix:${sock}`, '--last', '3', '-o', 'json', 'type=verdict', 'src=10.233.101.222', 'dst=10.233.101.224'];
      let cli: Record<string, any>[] = [];
      await waitUntil(async () => {
        const r = await run(process.execPath, [BIN, ...observeArgs], 20000);
        cli = r.code === 0 ? r.stdout.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l)) : [];
        return cli.length === 3;
      }, 'calitrace observe to show the 3 echo-request verdicts', 15000);

      assert.ok(fs.existsSync(PYTHON), `${PYTHON} missing: the strict client needs Debian's python3 with python3-grpcio (sudo bash scripts/setup.sh)`);
      const strict = await run(PYTHON, [CLIENT, '--target', `unix:${sock}`, '--readme', README]);
      assert.equal(strict.code, 0, `strict client failed:\n${strict.stderr}`);
      const got = JSON.parse(strict.stdout) as StrictOutput;
      assert.equal(got.implementation, 'cpp');

      const expectedServices = ['calitrace.v1.Calitrace', 'grpc.health.v1.Health', 'grpc.reflection.v1.ServerReflection', 'grpc.reflection.v1alpha.ServerReflection'];
      assert.deepEqual([...got.services].sort(), expectedServices);
      assert.deepEqual([...got.services_v1alpha].sort(), expectedServices);

      // Byte for byte what protoc builds from today's .proto files (so the build step cannot go stale).
      const protoc = protocNow();
      assert.deepEqual(Object.keys(got.files).sort(), [...protoc.keys()].sort());
      for (const [name, bytes] of protoc) assert.ok(Buffer.from(got.files[name], 'base64').equals(bytes), `${name}: served bytes differ from protoc's`);

      const cmd = (op: string, re: RegExp) => {
        const c = got.commands.find((x) => x.op === op && re.test(x.argv.join(' ')));
        assert.ok(c, `the README has no grpcurl ${op} matching ${re}: ${JSON.stringify(got.commands.map((x) => x.argv.join(' ')))}`);
        return c;
      };
      // grpcurl ... list
      assert.deepEqual([...cmd('list', /list$/).output].sort(), expectedServices);
      // grpcurl ... describe: fully-qualified types, the stream, maps as maps, original names with json_name.
      const svc = cmd('describe', /describe calitrace\.v1\.Calitrace$/).output as string;
      assert.match(svc, /rpc Observe \( \.calitrace\.v1\.ObserveRequest \) returns \( stream \.calitrace\.v1\.ObserveResponse \);/);
      for (const m of ['Explain', 'GetRoutes', 'Status']) assert.match(svc, new RegExp(`rpc ${m} \\( \\.calitrace\\.v1\\.${m}Request \\) returns \\( \\.calitrace\\.v1\\.${m}Response \\);`));
      const flow = cmd('describe', /describe calitrace\.v1\.Flow$/).output as string;
      assert.match(flow, /map<string, uint64> verdicts = 12 \[json_name = "verdicts"\];/);
      assert.match(flow, /int64 first_ms = 9 \[json_name = "firstMs"\];/);

      // grpcurl -d '{…}' … Observe: the README's request is the CLI's filter, and the answers are the same items.
      const obs = cmd('call', /calitrace\.v1\.Calitrace\/Observe$/);
      assert.deepEqual(obs.request, { last: 3, allow: [{ source_ip: ['10.233.101.222'], destination_ip: ['10.233.101.224'], event_type: ['VERDICT'] }] });
      assert.equal(obs.output.length, 3);
      // observe -o json prints verdicts in the calitrace.verdict/v1 schema (docs/output.md): the same items,
      // compared by what identifies and judges them.
      const key = (node: unknown, v: any) => [node, v.fingerprint, v.verdict, v.observed.map((h: { interface: string }) => h.interface)];
      assert.deepEqual(obs.output.map((o: any) => key(o.node, o.verdict)), cli.map((l) => key(l.node, l)));
      assert.ok(cli.every((l) => l.schema === 'calitrace.verdict/v1' && l.verdict === 'MATCHED' && l.observed.length === 2), JSON.stringify(cli));

      // Status: the node, and the interfaces the observed packets crossed, attached.
      const [status] = cmd('call', /calitrace\.v1\.Calitrace\/Status$/).output;
      assert.equal(status.node, cli[0].node);
      assert.equal(status.mode, 'packet');
      for (const hop of cli[0].observed) {
        assert.ok(status.interfaces.some((i: { name: string; attached?: boolean }) => i.name === hop.interface && i.attached), `${hop.interface} attached: ${JSON.stringify(status.interfaces)}`);
      }
      assert.ok(Number(status.counters.received) >= 6, JSON.stringify(status.counters)); // 3 requests x 2 hooks at least

      // Explain for the same pair: the decision and route the verdicts carry, out of the interface they left by.
      const explain = cmd('call', /calitrace\.v1\.Calitrace\/Explain$/);
      assert.deepEqual(explain.request, { src: '10.233.101.222', dst: '10.233.101.224', iif: cli[0].observed[0].interface });
      const [ex] = explain.output;
      assert.equal(ex.decision, cli[0].decision);
      assert.equal(ex.dev, cli[0].observed.at(-1).interface);
      assert.equal(ex.route, cli[0].route);
      assert.equal(ex.calico, 'local-workload');
      assert.ok(ex.steps.length > 0);
    } finally {
      const code = await stopProcess(server);
      fs.rmSync(dir, { recursive: true, force: true });
      assert.equal(code, 0, log);
    }
  });
});
