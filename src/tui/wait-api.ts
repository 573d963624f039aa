// Waits until a calitrace API answers Status (used by the demo after starting the server), with a
// deadline and an early exit when the server process has already failed.
import * as grpc from '@grpc/grpc-js';
import { calitrace } from '../api/generated/calitrace';

const v1 = calitrace.v1;

export async function waitForApi(server: string, timeoutMs: number, failed?: () => string | undefined): Promise<void> {
  const until = Date.now() + timeoutMs;
  const client = new grpc.Client(server, grpc.credentials.createInsecure());
  let last = '';
  try {
    for (;;) {
      const why = failed?.();
      if (why) throw new Error(why);
      const ok = await new Promise<boolean>((resolve) => {
        client.makeUnaryRequest(
          '/calitrace.v1.Calitrace/Status',
          (m: calitrace.v1.IStatusRequest) => Buffer.from(v1.StatusRequest.encode(m).finish()),
          (b: Buffer) => v1.StatusResponse.decode(b),
          {},
          { deadline: Date.now() + 1000 },
          (err) => {
            last = err ? err.details || err.message : '';
            resolve(!err);
          },
        );
      });
      if (ok) return;
      if (Date.now() > until) throw new Error(`the API at ${server} did not answer within ${timeoutMs} ms (last error: ${last})`);
      await new Promise((r) => setTimeout(r, 100));
    }
  } finally {
    client.close();
  }
}
