// The generated protobuf module (scripts/gen-proto.sh → src/api/generated) and the grpc-js service
// definitions built on it. Static encoders instead of proto-loader's reflection: faster, and typed.
import type { ServiceDefinition, MethodDefinition } from '@grpc/grpc-js';
import { calitrace, grpc as grpcGenerated } from './generated/calitrace';

export const pb = calitrace.v1;
export const healthPb = grpcGenerated.health.v1;
export { calitrace };

interface StaticMessage<M> {
  encode(message: M): { finish(): Uint8Array };
  decode(reader: Uint8Array): M;
}

function toBuffer(u: Uint8Array): Buffer {
  return Buffer.from(u.buffer, u.byteOffset, u.byteLength);
}

/** A message is encoded, unless the caller already did it (the hub encodes each item once for everyone). */
function serializer<M>(type: StaticMessage<M>): (value: M | Uint8Array) => Buffer {
  return (value) => (value instanceof Uint8Array ? toBuffer(value) : toBuffer(type.encode(value as M).finish()));
}

function method<Req, Res>(
  service: string,
  name: string,
  req: StaticMessage<Req>,
  res: StaticMessage<Res>,
  responseStream = false,
): MethodDefinition<Req, Res | Uint8Array> {
  return {
    path: `/${service}/${name}`,
    originalName: name.charAt(0).toLowerCase() + name.slice(1),
    requestStream: false,
    responseStream,
    requestSerialize: serializer(req),
    requestDeserialize: (b: Buffer) => req.decode(b),
    responseSerialize: serializer(res),
    responseDeserialize: (b: Buffer) => res.decode(b),
  };
}

export const CALITRACE_SERVICE = 'calitrace.v1.Calitrace';
export const HEALTH_SERVICE = 'grpc.health.v1.Health';

export const calitraceServiceDefinition = {
  Observe: method(CALITRACE_SERVICE, 'Observe', pb.ObserveRequest, pb.ObserveResponse, true),
  Explain: method(CALITRACE_SERVICE, 'Explain', pb.ExplainRequest, pb.ExplainResponse),
  GetRoutes: method(CALITRACE_SERVICE, 'GetRoutes', pb.GetRoutesRequest, pb.GetRoutesResponse),
  Status: method(CALITRACE_SERVICE, 'Status', pb.StatusRequest, pb.StatusResponse),
} satisfies ServiceDefinition;

export const healthServiceDefinition = {
  Check: method(HEALTH_SERVICE, 'Check', healthPb.HealthCheckRequest, healthPb.HealthCheckResponse),
  List: method(HEALTH_SERVICE, 'List', healthPb.HealthListRequest, healthPb.HealthListResponse),
  Watch: method(HEALTH_SERVICE, 'Watch', healthPb.HealthCheckRequest, healthPb.HealthCheckResponse, true),
} satisfies ServiceDefinition;

/** Plain JS view of a decoded message: enums as names, 64-bit as numbers, defaults filled, oneof named. */
export const PLAIN = { enums: String, longs: Number, defaults: true, oneofs: true, arrays: true, objects: true } as const;
