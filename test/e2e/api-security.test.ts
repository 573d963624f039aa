// Who may talk to the API: TLS, mutual TLS with a wrong client certificate, bearer tokens, the
// loopback-only default; and that stock gRPC tooling works: reflection lists the service, health
// answers SERVING.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
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

test('server reflection lists the service and serves its descriptor', async () => {
  const t = await startTestApi();
  try {
    const protoDir = path.dirname(require.resolve('@grpc/reflection/package.json'));
    const def = protoLoader.loadSync('grpc/reflection/v1/reflection.proto', { includeDirs: [path.join(protoDir, 'build', 'proto')] });
    const pkg = grpc.loadPackageDefinition(def) as unknown as { grpc: { reflection: { v1: { ServerReflection: grpc.ServiceClientConstructor } } } };
    const client = new pkg.grpc.reflection.v1.ServerReflection(t.api.address, grpc.credentials.createInsecure());
    const ask = (req: object) =>
      new Promise<Record<string, any>>((resolve, reject) => {
        const call = client.ServerReflectionInfo();
        call.on('data', (r: Record<string, any>) => {
          resolve(r);
          call.end();
        });
        call.on('error', reject);
        call.write(req);
      });
    const list = await ask({ listServices: '*' });
    const names = (list.listServicesResponse.service as { name: string }[]).map((s) => s.name);
    assert.ok(names.includes('calitrace.v1.Calitrace'), `services: ${names.join(', ')}`);
    assert.ok(names.includes('grpc.health.v1.Health'));
    const file = await ask({ fileContainingSymbol: 'calitrace.v1.Calitrace' });
    const descriptors = file.fileDescriptorResponse.fileDescriptorProto as Buffer[];
    assert.ok(descriptors.length >= 1);
    assert.ok(descriptors.some((d) => d.toString('latin1').includes('ObserveRequest')));
    client.close();
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
