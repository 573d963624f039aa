// grpc.health.v1: a status map that knows nothing of gRPC, and one adapter that serves it
// (Check, List, Watch), as grpc-node's health-check package does it.
import { EventEmitter } from 'node:events';
import * as grpc from '@grpc/grpc-js';
import { healthPb, healthServiceDefinition } from './proto';

export type ServingStatus = 'SERVING' | 'NOT_SERVING';

/** Service name → status. '' is the server as a whole. */
export class HealthStatus extends EventEmitter {
  private readonly statuses = new Map<string, ServingStatus>();

  set(service: string, status: ServingStatus): void {
    this.statuses.set(service, status);
    this.emit('change', service, status);
  }

  get(service: string): ServingStatus | undefined {
    return this.statuses.get(service);
  }

  all(): Map<string, ServingStatus> {
    return new Map(this.statuses);
  }

  /** Everything NOT_SERVING (shutdown). */
  shutdown(): void {
    for (const s of this.statuses.keys()) this.set(s, 'NOT_SERVING');
  }
}

const S = healthPb.HealthCheckResponse.ServingStatus;

export function addHealthToServer(server: grpc.Server, health: HealthStatus): void {
  server.addService(healthServiceDefinition, {
    Check(call: grpc.ServerUnaryCall<{ service: string }, unknown>, cb: grpc.sendUnaryData<unknown>) {
      const status = health.get(call.request.service);
      if (status === undefined) cb({ code: grpc.status.NOT_FOUND, details: `unknown service '${call.request.service}'` });
      else cb(null, { status: S[status] });
    },
    List(_call: grpc.ServerUnaryCall<unknown, unknown>, cb: grpc.sendUnaryData<unknown>) {
      const statuses: Record<string, { status: number }> = {};
      for (const [name, st] of health.all()) statuses[name] = { status: S[st] };
      cb(null, { statuses });
    },
    Watch(call: grpc.ServerWritableStream<{ service: string }, unknown>) {
      const service = call.request.service;
      const send = (status: ServingStatus | undefined) => call.write({ status: status ? S[status] : S.SERVICE_UNKNOWN });
      send(health.get(service));
      const onChange = (name: string, status: ServingStatus) => {
        if (name === service) send(status);
      };
      health.on('change', onChange);
      call.on('cancelled', () => health.off('change', onChange));
      call.on('close', () => health.off('change', onChange));
    },
  });
}
