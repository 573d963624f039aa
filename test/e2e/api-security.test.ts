// Who may talk to the API: TLS, mutual TLS with a wrong client certificate, bearer tokens, the
// loopback-only default; and that stock gRPC tooling works: reflection answers every kind of question
// (test/e2e/reflection-strict.test.ts checks its descriptors with a strict client), health answers SERVING.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { FileDescriptorProto } from 'protobufjs/ext/descriptor';
import { all, startTestApi, verdict, noCaptureBackend, waitUntil } from '../helpers/api';
import { healthPb, healthServiceDefinition } from '../../src/api/proto';
import { makeTestCerts, TestCerts } from '../helpers/certs';
import { startApiServer } from '../../src/api/server';
import { ObserveFeed } from '../../src/api/feed';
import { ListenPolicyError } from '../../src/api/security';

let certs: TestCerts;
before(() => {
  certs = makeTestCerts();
});
after(() => certs.cleanup());

const isCode = (code: grpc.status, re?: RegExp) => (err: grpc.ServiceError) =>
  err.code === code && (!re || re.test(err.details)) ? true : assert.fail(`expected ${grpc.status[code]}, got ${grpc.status[err.code]}: ${err.details}`);

test('TLS: a client that trusts the CA gets data; plaintext and untrusting clients get nothing', async () => {
  const t = await startTestApi({ tls: { certFile: certs.serverCert, keyFile: certs.serverKey } });
  try {
    t.feed.verdict(verdict('10.233.101.224', 'MATCHED'));
    const good = await all(t.client({ caFile: certs.ca }).observe({ allHistory: true }));
    assert.equal(good.length, 1);
    assert.equal(good[0].verdict!.dst, '10.233.101.224');
    await assert.rejects(t.client().status(3000), isCode(grpc.status.UNAVAILABLE));
    await assert.rejects(t.client({ tls: true }).status(3000), isCode(grpc.status.UNAVAILABLE));
  } finally {
    await t.close();
  }
});

test('mutual TLS: the right client certificate gets data; a wrong or missing one gets UNAUTHENTICATED and no data', async () => {
  const t = await startTestApi({ tls: { certFile: certs.serverCert, keyFile: certs.serverKey, clientCaFile: certs.clientCa } });
  try {
    t.feed.verdict(verdict('10.233.101.224', 'MATCHED'));
    const good = await all(t.client({ caFile: certs.ca, certFile: certs.clientCert, keyFile: certs.clientKey }).observe({ allHistory: true }));
    assert.equal(good.length, 1);
    for (const client of [
      t.client({ caFile: certs.ca, certFile: certs.rogueCert, keyFile: certs.rogueKey }), // signed by another CA
      t.client({ caFile: certs.ca }), // no certificate at all
    ]) {
      const got: unknown[] = [];
      await assert.rejects(
        (async () => {
          for await (const m of client.observe({ allHistory: true, follow: true })) got.push(m);
        })(),
        isCode(grpc.status.UNAUTHENTICATED, /client certificate/),
      );
      assert.equal(got.length, 0);
      await assert.rejects(client.status(), isCode(grpc.status.UNAUTHENTICATED));
    }
    assert.equal(t.feed.hub.stats().subscribers, 0);
  } finally {
    await t.close();
  }
});

test('bearer token: missing or wrong → UNAUTHENTICATED and no data; right → data; health needs none', async () => {
  const t = await startTestApi({ token: 's3cret-token' });
  try {
    t.feed.verdict(verdict('10.233.101.224', 'MATCHED'));
    for (const [client, re] of [
      [t.client(), /bearer token is required/],
      [t.client({ token: 'guess' }), /token is wrong/],
    ] as const) {
      const got: unknown[] = [];
      await assert.rejects(
        (async () => {
          for await (const m of client.observe({ allHistory: true })) got.push(m);
        })(),
        isCode(grpc.status.UNAUTHENTICATED, re),
      );
      assert.equal(got.length, 0);
      await assert.rejects(client.explain({ dst: '10.233.101.224' }), isCode(grpc.status.UNAUTHENTICATED));
    }
    const good = await all(t.client({ token: 's3cret-token' }).observe({ allHistory: true }));
    assert.equal(good.length, 1);
    assert.equal(await t.client().healthCheck(), 'SERVING');
  } finally {
    await t.close();
  }
});

test('health answers SERVING for the server and the service, NOT_FOUND for an unknown one; Watch follows changes', async () => {
  const t = await startTestApi();
  try {
    const c = t.client();
    assert.equal(await c.healthCheck(''), 'SERVING');
    assert.equal(await c.healthCheck('calitrace.v1.Calitrace'), 'SERVING');
    await assert.rejects(c.healthCheck('nope.v1.Nothing'), isCode(grpc.status.NOT_FOUND));

    // Watch: the current status at once, then every change (e.g. a capture failure marks NOT_SERVING).
    const HealthClient = grpc.makeGenericClientConstructor(healthServiceDefinition, 'Health');
    const raw = new HealthClient(t.api.address, grpc.credentials.createInsecure());
    const watch = (raw as unknown as { Watch(req: object): grpc.ClientReadableStream<{ status: number }> }).Watch({ service: '' });
    const seen: string[] = [];
    watch.on('data', (r: { status: number }) => seen.push(healthPb.HealthCheckResponse.ServingStatus[r.status]));
    watch.on('error', () => undefined);
    await waitUntil(() => seen.length === 1, 'the first Watch answer');
    t.api.health.set('', 'NOT_SERVING');
    await waitUntil(() => seen.length === 2, 'the change');
    assert.deepEqual(seen, ['SERVING', 'NOT_SERVING']);
    watch.cancel();
    raw.close();
  } finally {
    await t.close();
  }
});

test('server reflection (v1 and v1alpha): every kind of symbol, files by import path with their imports, NOT_FOUND naming what was asked', async () => {
  const t = await startTestApi();
  try {
    const protoDir = path.join(path.dirname(require.resolve('@grpc/reflection/package.json')), 'build', 'proto');
    for (const version of ['v1', 'v1alpha'] as const) {
      const def = protoLoader.loadSync(`grpc/reflection/${version}/reflection.proto`, { includeDirs: [protoDir], oneofs: true, arrays: true });
      const Client = grpc.loadPackageDefinition(def).grpc as unknown as Record<'reflection', Record<string, { ServerReflection: grpc.ServiceClientConstructor }>>;
      const client = new Client.reflection[version].ServerReflection(t.api.address, grpc.credentials.createInsecure());
      // Several questions on one stream, as grpcurl asks them: one answer each, in order.
      const ask = (...reqs: object[]) =>
        new Promise<Record<string, any>[]>((resolve, reject) => {
          const call = client.ServerReflectionInfo();
          const got: Record<string, any>[] = [];
          call.on('data', (r: Record<string, any>) => got.push(r));
          call.on('end', () => resolve(got));
          call.on('error', reject);
          for (const r of reqs) call.write(r);
          call.end();
        });
      const fileNames = (r: Record<string, any>) =>
        (r.fileDescriptorResponse.fileDescriptorProto as Buffer[]).map((b) => (FileDescriptorProto.decode(b) as unknown as { name: string }).name);

      const [list] = await ask({ host: 'h1', listServices: '*' });
      assert.equal(list.validHost, 'h1');
      assert.deepEqual((list.listServicesResponse.service as { name: string }[]).map((s) => s.name).sort(),
        ['calitrace.v1.Calitrace', 'grpc.health.v1.Health', 'grpc.reflection.v1.ServerReflection', 'grpc.reflection.v1alpha.ServerReflection']);

      // Services, methods, messages, nested map entries, fields, enum values (siblings of their enum), a
      // leading dot: each resolves to the file named by its import path.
      const symbols: [string, string][] = [
        ['calitrace.v1.Calitrace', 'calitrace/v1/calitrace.proto'],
        ['calitrace.v1.Calitrace.Observe', 'calitrace/v1/calitrace.proto'],
        ['.calitrace.v1.Flow', 'calitrace/v1/calitrace.proto'],
        ['calitrace.v1.Flow.VerdictsEntry', 'calitrace/v1/calitrace.proto'],
        ['calitrace.v1.FlowDirection.hop_latency', 'calitrace/v1/calitrace.proto'],
        ['calitrace.v1.MATCHED', 'calitrace/v1/calitrace.proto'],
        ['calitrace.v1.LostEvents.SUBSCRIBER', 'calitrace/v1/calitrace.proto'],
        ['grpc.health.v1.HealthCheckResponse.ServingStatus', 'grpc/health/v1/health.proto'],
        [`grpc.reflection.${version}.ServerReflectionRequest`, `grpc/reflection/${version}/reflection.proto`],
      ];
      const answers = await ask(...symbols.map(([s]) => ({ fileContainingSymbol: s })));
      assert.equal(answers.length, symbols.length);
      symbols.forEach(([s, file], i) => {
        assert.equal(answers[i].originalRequest.fileContainingSymbol, s);
        assert.equal(fileNames(answers[i])[0], file, s);
      });

      // By name: the file first, then each file it imports.
      const [byName] = await ask({ fileByFilename: 'calitrace/v1/calitrace.proto' });
      const [first, ...rest] = byName.fileDescriptorResponse.fileDescriptorProto as Buffer[];
      const file = FileDescriptorProto.decode(first) as unknown as { name: string; dependency: string[]; package: string };
      assert.equal(file.name, 'calitrace/v1/calitrace.proto');
      assert.equal(file.package, 'calitrace.v1');
      assert.deepEqual(rest.map((b) => (FileDescriptorProto.decode(b) as unknown as { name: string }).name).sort(), [...file.dependency].sort());

      // No extensions in our files: an empty list for a message, NOT_FOUND for anything else.
      const [exts, noType, noSymbol, oldName, noExt] = await ask(
        { allExtensionNumbersOfType: 'calitrace.v1.Flow' },
        { allExtensionNumbersOfType: 'calitrace.v1.Nope' },
        { fileContainingSymbol: 'calitrace.v1.Nope' },
        { fileByFilename: 'calitrace_v1.proto' },
        { fileContainingExtension: { containingType: 'calitrace.v1.Flow', extensionNumber: 100 } },
      );
      assert.equal(exts.allExtensionNumbersResponse.baseTypeName, 'calitrace.v1.Flow');
      assert.deepEqual(exts.allExtensionNumbersResponse.extensionNumber, []);
      for (const [r, named] of [[noType, 'calitrace.v1.Nope'], [noSymbol, 'calitrace.v1.Nope'], [oldName, 'calitrace_v1.proto'], [noExt, '100']] as const) {
        assert.equal(r.errorResponse?.errorCode, grpc.status.NOT_FOUND, JSON.stringify(r));
        assert.ok(r.errorResponse.errorMessage.includes(named), r.errorResponse.errorMessage);
      }
      client.close();
    }
  } finally {
    await t.close();
  }
});

test('listen policy: non-loopback needs TLS or --insecure (with a loud warning); unix sockets are private', async () => {
  const feed = new ObserveFeed({ node: 'n' });
  await assert.rejects(
    startApiServer({ listen: '0.0.0.0:0', feed, backend: noCaptureBackend() }),
    (e: Error) => e instanceof ListenPolicyError && /--tls-cert and --tls-key.*--insecure/.test(e.message),
  );
  const warnings: string[] = [];
  const open = await startApiServer({ listen: '0.0.0.0:0', insecure: true, feed, backend: noCaptureBackend(), warn: (m) => warnings.push(m) });
  assert.match(warnings.join(''), /WARNING: serving the calitrace API on 0\.0\.0\.0:0 WITHOUT TLS/);
  await open.close();
  const withTls = await startApiServer({ listen: '0.0.0.0:0', tls: { certFile: certs.serverCert, keyFile: certs.serverKey }, feed, backend: noCaptureBackend(), warn: (m) => warnings.push(m) });
  assert.equal(warnings.length, 1);
  await withTls.close();

  const sock = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'calitrace-sock-')), 'api.sock');
  const t = await startTestApi({ listen: `unix:${sock}` });
  try {
    assert.equal(t.api.address, `unix:${sock}`);
    assert.equal(fs.statSync(sock).mode & 0o777, 0o600);
    t.feed.verdict(verdict('10.233.101.224', 'MATCHED'));
    assert.equal((await all(t.client().observe({ allHistory: true }))).length, 1);
  } finally {
    await t.close();
    fs.rmSync(path.dirname(sock), { recursive: true, force: true });
  }
});
