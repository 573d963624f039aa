// gRPC server reflection (grpc.reflection.v1 and v1alpha) over the FileDescriptorSet protoc built at
// build time (scripts/gen-proto.sh → generated/descriptor-set.binpb). Every file goes out as the exact
// bytes protoc wrote: import-path file names, fully-qualified type names, *Entry map messages, original
// field names with json_name, comments. @grpc/reflection re-derives descriptors from proto-loader and
// re-encodes them, which strict runtimes (C++, Go: grpcurl) reject, so only its .proto files are used here.
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { Reader } from 'protobufjs/minimal';

export const DESCRIPTOR_SET_PATH = path.join(__dirname, 'generated', 'descriptor-set.binpb');
const REFLECTION_PACKAGES = ['grpc.reflection.v1', 'grpc.reflection.v1alpha'];

/** The length-delimited fields of one message, by field number (other wire types are skipped). */
function lengthDelimited(bytes: Uint8Array): Map<number, Uint8Array[]> {
  const r = Reader.create(bytes);
  const out = new Map<number, Uint8Array[]>();
  while (r.pos < r.len) {
    const tag = r.uint32();
    if ((tag & 7) !== 2) {
      r.skipType(tag & 7);
      continue;
    }
    const list = out.get(tag >>> 3) ?? [];
    list.push(r.bytes());
    out.set(tag >>> 3, list);
  }
  return out;
}

/** Field 1 of descriptor.proto's messages is their name; a few fields of interest are strings. */
const text = (fields: Map<number, Uint8Array[]>, n: number): string[] => (fields.get(n) ?? []).map((b) => Buffer.from(b).toString('utf8'));
const nameOf = (fields: Map<number, Uint8Array[]>): string => text(fields, 1)[0] ?? '';

function varintField(bytes: Uint8Array, field: number): number | undefined {
  const r = Reader.create(bytes);
  while (r.pos < r.len) {
    const tag = r.uint32();
    if (tag >>> 3 === field && (tag & 7) === 0) return r.int32();
    r.skipType(tag & 7);
  }
  return undefined;
}

interface DescriptorFile {
  name: string;
  bytes: Buffer;
  dependencies: string[];
}

export class DescriptorIndex {
  readonly files = new Map<string, DescriptorFile>();
  /** Fully-qualified name (no leading dot) of every message, field, oneof, enum, enum value, service,
   * method and extension → the file declaring it. */
  readonly symbols = new Map<string, DescriptorFile>();
  readonly services: string[] = [];
  readonly messages = new Set<string>();
  /** extendee (no leading dot) → field number → file. */
  readonly extensions = new Map<string, Map<number, DescriptorFile>>();

  constructor(set: Uint8Array) {
    for (const bytes of lengthDelimited(set).get(1) ?? []) {
      const f = lengthDelimited(bytes);
      const file: DescriptorFile = { name: nameOf(f), bytes: Buffer.from(bytes), dependencies: text(f, 3) };
      this.files.set(file.name, file);
      const pkg = text(f, 2)[0] ?? '';
      const scope = (name: string, parent: string) => (parent ? `${parent}.${name}` : name);
      for (const m of f.get(4) ?? []) this.message(file, lengthDelimited(m), pkg);
      for (const e of f.get(5) ?? []) this.enumeration(file, lengthDelimited(e), pkg);
      for (const x of f.get(7) ?? []) this.extension(file, x, pkg);
      for (const s of f.get(6) ?? []) {
        const sf = lengthDelimited(s);
        const fqn = scope(nameOf(sf), pkg);
        this.symbols.set(fqn, file);
        this.services.push(fqn);
        for (const m of sf.get(2) ?? []) this.symbols.set(`${fqn}.${nameOf(lengthDelimited(m))}`, file);
      }
    }
    for (const file of this.files.values()) {
      for (const dep of file.dependencies) {
        if (!this.files.has(dep)) throw new Error(`descriptor set: ${file.name} imports ${dep}, which the set lacks (protoc --include_imports)`);
      }
    }
  }

  private message(file: DescriptorFile, m: Map<number, Uint8Array[]>, parent: string): void {
    const fqn = parent ? `${parent}.${nameOf(m)}` : nameOf(m);
    this.symbols.set(fqn, file);
    this.messages.add(fqn);
    for (const n of [2, 8]) for (const x of m.get(n) ?? []) this.symbols.set(`${fqn}.${nameOf(lengthDelimited(x))}`, file); // fields, oneofs
    for (const x of m.get(3) ?? []) this.message(file, lengthDelimited(x), fqn);
    for (const x of m.get(4) ?? []) this.enumeration(file, lengthDelimited(x), fqn);
    for (const x of m.get(6) ?? []) this.extension(file, x, fqn);
  }

  private enumeration(file: DescriptorFile, e: Map<number, Uint8Array[]>, parent: string): void {
    this.symbols.set(parent ? `${parent}.${nameOf(e)}` : nameOf(e), file);
    // Enum values are siblings of their enum (C++ scoping), as protobuf's own pools name them.
    for (const v of e.get(2) ?? []) this.symbols.set(parent ? `${parent}.${nameOf(lengthDelimited(v))}` : nameOf(lengthDelimited(v)), file);
  }

  private extension(file: DescriptorFile, bytes: Uint8Array, parent: string): void {
    const x = lengthDelimited(bytes);
    this.symbols.set(parent ? `${parent}.${nameOf(x)}` : nameOf(x), file);
    const extendee = (text(x, 2)[0] ?? '').replace(/^\./, '');
    const number = varintField(bytes, 3);
    if (number === undefined) return;
    const byNumber = this.extensions.get(extendee) ?? new Map<number, DescriptorFile>();
    byNumber.set(number, file);
    this.extensions.set(extendee, byNumber);
  }

  /** The file first, then everything it imports, transitively, each once. */
  withDependencies(file: DescriptorFile): Buffer[] {
    const seen = new Set<string>();
    const out: Buffer[] = [];
    const visit = (f: DescriptorFile) => {
      if (seen.has(f.name)) return;
      seen.add(f.name);
      out.push(f.bytes);
      for (const d of f.dependencies) visit(this.files.get(d)!);
    };
    visit(file);
    return out;
  }
}

class NotFound extends Error {}

interface ReflectionRequest {
  host?: string;
  messageRequest?: 'fileByFilename' | 'fileContainingSymbol' | 'fileContainingExtension' | 'allExtensionNumbersOfType' | 'listServices';
  fileByFilename?: string;
  fileContainingSymbol?: string;
  fileContainingExtension?: { containingType?: string; extensionNumber?: number };
  allExtensionNumbersOfType?: string;
  listServices?: string;
}

function answer(index: DescriptorIndex, listed: string[], req: ReflectionRequest): Record<string, unknown> {
  const files = (file: DescriptorFile | undefined, what: string) => {
    if (!file) throw new NotFound(what);
    return { fileDescriptorResponse: { fileDescriptorProto: index.withDependencies(file) } };
  };
  switch (req.messageRequest) {
    case 'listServices':
      return { listServicesResponse: { service: listed.map((name) => ({ name })) } };
    case 'fileByFilename':
      return files(index.files.get(req.fileByFilename ?? ''), `file '${req.fileByFilename}' not found`);
    case 'fileContainingSymbol': {
      const symbol = (req.fileContainingSymbol ?? '').replace(/^\./, '');
      return files(index.symbols.get(symbol), `symbol '${symbol}' not found`);
    }
    case 'fileContainingExtension': {
      const type = (req.fileContainingExtension?.containingType ?? '').replace(/^\./, '');
      const number = req.fileContainingExtension?.extensionNumber ?? 0;
      return files(index.extensions.get(type)?.get(number), `no extension ${number} of '${type}'`);
    }
    case 'allExtensionNumbersOfType': {
      const type = (req.allExtensionNumbersOfType ?? '').replace(/^\./, '');
      if (!index.messages.has(type)) throw new NotFound(`message type '${type}' not found`);
      return { allExtensionNumbersResponse: { baseTypeName: type, extensionNumber: [...(index.extensions.get(type)?.keys() ?? [])] } };
    }
    default:
      return { errorResponse: { errorCode: grpc.status.INVALID_ARGUMENT, errorMessage: 'the request names no question (file_by_filename, file_containing_symbol, …)' } };
  }
}

let cachedIndex: DescriptorIndex | undefined;

/** The build's descriptor set, read once per process. */
export function descriptorIndex(): DescriptorIndex {
  if (!cachedIndex) {
    if (!fs.existsSync(DESCRIPTOR_SET_PATH)) {
      throw new Error(`server reflection: ${DESCRIPTOR_SET_PATH} is missing; it is built by scripts/gen-proto.sh (run: bash scripts/build.sh)`);
    }
    cachedIndex = new DescriptorIndex(fs.readFileSync(DESCRIPTOR_SET_PATH));
  }
  return cachedIndex;
}

/** Registers grpc.reflection.v1 and v1alpha, listing `services` (which the set must describe) and themselves. */
export function addReflectionToServer(server: grpc.Server, services: string[], index: DescriptorIndex = descriptorIndex()): void {
  const listed = [...services, ...REFLECTION_PACKAGES.map((p) => `${p}.ServerReflection`)];
  for (const s of listed) {
    if (!index.services.includes(s)) throw new Error(`server reflection: the descriptor set does not describe ${s}; rebuild it (bash scripts/build.sh)`);
  }
  const protoDir = path.join(path.dirname(require.resolve('@grpc/reflection/package.json')), 'build', 'proto');
  for (const pkg of REFLECTION_PACKAGES) {
    const def = protoLoader.loadSync(`${pkg.replace(/\./g, '/')}/reflection.proto`, { includeDirs: [protoDir], oneofs: true, defaults: false });
    const service = def[`${pkg}.ServerReflection`] as grpc.ServiceDefinition;
    server.addService(service, {
      ServerReflectionInfo: (stream: grpc.ServerDuplexStream<ReflectionRequest, Record<string, unknown>>) => {
        stream.on('data', (req: ReflectionRequest) => {
          let body: Record<string, unknown>;
          try {
            body = answer(index, listed, req);
          } catch (err) {
            const code = err instanceof NotFound ? grpc.status.NOT_FOUND : grpc.status.INTERNAL;
            body = { errorResponse: { errorCode: code, errorMessage: (err as Error).message } };
          }
          stream.write({ validHost: req.host ?? '', originalRequest: req, ...body });
        });
        stream.on('end', () => stream.end());
        stream.on('error', () => undefined); // a client gone mid-stream ends only its own call
      },
    });
  }
}
