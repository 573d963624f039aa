#!/usr/bin/python3
"""A strict, independent gRPC reflection client: what grpcurl does, with Debian's python3-grpcio and the
C++ protobuf runtime instead of Go's. It has no .proto file and no generated code for the server's API:
every request and response class is built from the descriptors the server's reflection hands out.

  /usr/bin/python3 test/e2e/strict-client.py --target unix:/tmp/x/api.sock --readme README.md

1. Lists the services over grpc.reflection.v1 and v1alpha.
2. Loads every service's file by symbol, and every file seen by file name, each time with its
   dependencies into a fresh C++ descriptor pool, which rejects what protoc would not have produced
   (explicit map_entry, relative or unresolvable type names, missing imports). Checks that file names are
   import paths, type names fully qualified, every field has its json_name.
3. Runs every `grpcurl` command of the README (list, describe, calls with -d) against --target instead
   of the README's address, building the request from the -d JSON and decoding the answers with the
   classes from the pool.

Prints one JSON document on stdout (what the test compares with `calitrace observe -o json`); exits 1
with the error on stderr when anything is rejected.

The only protocol this client knows by heart is reflection itself (as grpcurl has it compiled in): its
messages are declared below from the field numbers of grpc/reflection/v1/reflection.proto.
"""
import argparse
import base64
import json
import shlex
import sys

import grpc
from google.protobuf import descriptor_pb2, descriptor_pool, json_format, message_factory
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.internal import api_implementation

F = descriptor_pb2.FieldDescriptorProto


class Rejected(Exception):
    pass


def reflection_stub(channel, package):
    """grpc.reflection.<package>.ServerReflection, declared field by field (no .proto, no codegen)."""
    f = descriptor_pb2.FileDescriptorProto(name=f'builtin/{package}/reflection.proto', package=package, syntax='proto3')

    def message(name, *fields, oneof=None):
        m = f.message_type.add(name=name)
        if oneof:
            m.oneof_decl.add(name=oneof)
        for fname, number, ftype, extra in fields:
            fd = m.field.add(name=fname, number=number, type=ftype, label=extra.get('label', F.LABEL_OPTIONAL))
            if 'msg' in extra:
                fd.type_name = f'.{package}.{extra["msg"]}'
            if extra.get('oneof'):
                fd.oneof_index = 0

    o = {'oneof': True}
    message('ExtensionRequest', ('containing_type', 1, F.TYPE_STRING, {}), ('extension_number', 2, F.TYPE_INT32, {}))
    message('ServerReflectionRequest', ('host', 1, F.TYPE_STRING, {}), ('file_by_filename', 3, F.TYPE_STRING, o),
            ('file_containing_symbol', 4, F.TYPE_STRING, o),
            ('file_containing_extension', 5, F.TYPE_MESSAGE, {'oneof': True, 'msg': 'ExtensionRequest'}),
            ('all_extension_numbers_of_type', 6, F.TYPE_STRING, o), ('list_services', 7, F.TYPE_STRING, o),
            oneof='message_request')
    message('FileDescriptorResponse', ('file_descriptor_proto', 1, F.TYPE_BYTES, {'label': F.LABEL_REPEATED}))
    message('ExtensionNumberResponse', ('base_type_name', 1, F.TYPE_STRING, {}),
            ('extension_number', 2, F.TYPE_INT32, {'label': F.LABEL_REPEATED}))
    message('ServiceResponse', ('name', 1, F.TYPE_STRING, {}))
    message('ListServiceResponse', ('service', 1, F.TYPE_MESSAGE, {'label': F.LABEL_REPEATED, 'msg': 'ServiceResponse'}))
    message('ErrorResponse', ('error_code', 1, F.TYPE_INT32, {}), ('error_message', 2, F.TYPE_STRING, {}))
    message('ServerReflectionResponse', ('valid_host', 1, F.TYPE_STRING, {}),
            ('original_request', 2, F.TYPE_MESSAGE, {'msg': 'ServerReflectionRequest'}),
            ('file_descriptor_response', 4, F.TYPE_MESSAGE, {'oneof': True, 'msg': 'FileDescriptorResponse'}),
            ('all_extension_numbers_response', 5, F.TYPE_MESSAGE, {'oneof': True, 'msg': 'ExtensionNumberResponse'}),
            ('list_services_response', 6, F.TYPE_MESSAGE, {'oneof': True, 'msg': 'ListServiceResponse'}),
            ('error_response', 7, F.TYPE_MESSAGE, {'oneof': True, 'msg': 'ErrorResponse'}),
            oneof='message_response')
    pool = descriptor_pool.DescriptorPool()
    pool.AddSerializedFile(f.SerializeToString())
    factory = message_factory.MessageFactory(pool)
    req_cls = factory.GetPrototype(pool.FindMessageTypeByName(f'{package}.ServerReflectionRequest'))
    res_cls = factory.GetPrototype(pool.FindMessageTypeByName(f'{package}.ServerReflectionResponse'))
    call = channel.stream_stream(f'/{package}.ServerReflection/ServerReflectionInfo',
                                 request_serializer=req_cls.SerializeToString, response_deserializer=res_cls.FromString)

    def ask(**request):
        """One request on its own stream; the one answer, or Rejected with the server's error."""
        answers = list(call(iter([req_cls(**request)]), timeout=10))
        if len(answers) != 1:
            raise Rejected(f'{package}: {request} got {len(answers)} answers, expected 1')
        a = answers[0]
        if a.WhichOneof('message_response') == 'error_response':
            raise Rejected(f'{package}: {request} -> error {a.error_response.error_code}: {a.error_response.error_message}')
        return a

    return ask


def fresh_pool(blobs, what):
    """Every FileDescriptorProto of one reflection answer into a new C++ pool, imports first."""
    files = {}
    for b in blobs:
        fd = descriptor_pb2.FileDescriptorProto.FromString(b)
        files[fd.name] = (fd, b)
    pool = descriptor_pool.DescriptorPool()
    added = set()

    def add(name, chain):
        if name in added:
            return
        if name not in files:
            raise Rejected(f'{what}: {chain[-1]} imports "{name}", which the answer did not include')
        if name in chain:
            raise Rejected(f'{what}: import cycle {" -> ".join(chain + [name])}')
        fd, b = files[name]
        for dep in fd.dependency:
            add(dep, chain + [name])
        try:
            pool.AddSerializedFile(b)
        except Exception as e:  # the C++ pool's own words: this is what a strict client sees
            raise Rejected(f'{what}: {e}') from None
        added.add(name)

    for name in files:
        add(name, [])
    return pool, files


def check_like_protoc(fd):
    """What protoc always produces and the C++ pool does not insist on."""
    problems = []
    pkg_dir = fd.package.replace('.', '/') + '/'
    if not fd.name.startswith(pkg_dir) or not fd.name.endswith('.proto'):
        problems.append(f'file name "{fd.name}" is not an import path under {pkg_dir}')

    def fields(prefix, m):
        for fld in m.field:
            where = f'{prefix}.{m.name}.{fld.name}'
            if not fld.HasField('json_name'):
                problems.append(f'{where}: no json_name')
            if fld.type_name and not fld.type_name.startswith('.'):
                problems.append(f'{where}: type_name "{fld.type_name}" is not fully qualified')
        for n in m.nested_type:
            fields(f'{prefix}.{m.name}', n)

    for m in fd.message_type:
        fields(fd.package, m)
    for s in fd.service:
        for meth in s.method:
            for t in (meth.input_type, meth.output_type):
                if not t.startswith('.'):
                    problems.append(f'{fd.package}.{s.name}.{meth.name}: type "{t}" is not fully qualified')
    if not fd.HasField('source_code_info'):
        problems.append(f'{fd.name}: no source_code_info (comments)')
    if problems:
        raise Rejected(f'{fd.name} is not what protoc builds:\n  ' + '\n  '.join(problems))


SCALARS = {v: k[len('TYPE_'):].lower() for k, v in FieldDescriptor.__dict__.items() if k.startswith('TYPE_')}


def type_text(fld):
    if fld.message_type is not None and fld.message_type.GetOptions().map_entry:
        k, v = fld.message_type.fields_by_name['key'], fld.message_type.fields_by_name['value']
        return f'map<{type_text(k)}, {type_text(v)}>'
    if fld.message_type is not None:
        return '.' + fld.message_type.full_name
    if fld.enum_type is not None:
        return '.' + fld.enum_type.full_name
    return SCALARS[fld.type]


def describe(pool, symbol):
    """The declaration of a service, message or enum, as grpcurl's describe prints it."""
    for find, kind in ((pool.FindServiceByName, 'service'), (pool.FindMessageTypeByName, 'message'), (pool.FindEnumTypeByName, 'enum')):
        try:
            d = find(symbol)
        except KeyError:
            continue
        lines = [f'{symbol} is a {kind}:', f'{kind} {d.name} {{']
        if kind == 'service':
            for m in d.methods:
                cs, ss = ('stream ' if m.client_streaming else ''), ('stream ' if m.server_streaming else '')
                lines.append(f'  rpc {m.name} ( {cs}.{m.input_type.full_name} ) returns ( {ss}.{m.output_type.full_name} );')
        elif kind == 'message':
            for fld in d.fields:
                repeated = fld.label == FieldDescriptor.LABEL_REPEATED and not (fld.message_type and fld.message_type.GetOptions().map_entry)
                lines.append(f'  {"repeated " if repeated else ""}{type_text(fld)} {fld.name} = {fld.number} [json_name = "{fld.json_name}"];')
        else:
            for v in d.values:
                lines.append(f'  {v.name} = {v.number};')
        lines.append('}')
        return '\n'.join(lines)
    raise Rejected(f'describe: symbol "{symbol}" not found in the pool')


def readme_commands(path):
    """Every grpcurl command line of the README (backslash continuations joined), as argv lists."""
    cmds, buf = [], ''
    with open(path, encoding='utf-8') as fh:
        for raw in fh:
            line = raw.strip()
            if buf:
                buf += ' ' + line.rstrip('\\').strip()
                if not line.endswith('\\'):
                    cmds.append(buf)
                    buf = ''
            elif line.startswith('grpcurl '):
                if line.endswith('\\'):
                    buf = line.rstrip('\\').strip()
                else:
                    cmds.append(line)
    return [shlex.split(c.split(' #', 1)[0]) for c in cmds]


def parse_grpcurl(argv):
    """grpcurl [-plaintext] [-d JSON] ADDRESS (list [SVC] | describe [SYM] | SVC/METHOD)."""
    args, data, i = argv[1:], None, 0
    while i < len(args) and args[i].startswith('-'):
        if args[i] == '-d':
            data, i = args[i + 1], i + 2
        elif args[i] == '-plaintext':
            i += 1
        else:
            raise Rejected(f'README command {shlex.join(argv)}: flag {args[i]} is not one this test performs')
    rest = args[i + 1:]  # args[i] is the README's address; --target replaces it
    if not rest:
        raise Rejected(f'README command {shlex.join(argv)}: no verb')
    return rest[0], rest[1:], data


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--target', required=True, help="the server: host:port or unix:/path")
    ap.add_argument('--readme', required=True, help='the README whose grpcurl commands are run')
    opts = ap.parse_args()

    out = {'implementation': api_implementation.Type()}
    if out['implementation'] != 'cpp':
        raise Rejected(f'protobuf runtime is "{out["implementation"]}", not the strict C++ one (use /usr/bin/python3)')
    channel = grpc.insecure_channel(opts.target)
    grpc.channel_ready_future(channel).result(timeout=15)
    v1 = reflection_stub(channel, 'grpc.reflection.v1')
    v1alpha = reflection_stub(channel, 'grpc.reflection.v1alpha')

    services = [s.name for s in v1(list_services='*').list_services_response.service]
    out['services'] = services
    out['services_v1alpha'] = [s.name for s in v1alpha(list_services='*').list_services_response.service]

    # By symbol: each service's file with its imports, each answer into its own fresh pool.
    served = {}
    for svc in services:
        blobs = list(v1(file_containing_symbol=svc).file_descriptor_response.file_descriptor_proto)
        pool, files = fresh_pool(blobs, f'file_containing_symbol {svc}')
        pool.FindServiceByName(svc)
        for name, (fd, b) in files.items():
            check_like_protoc(fd)
            if served.setdefault(name, b) != b:
                raise Rejected(f'{name}: different bytes in two answers')
    # By file name: every file seen, again each with its imports into a fresh pool.
    for name in list(served):
        blobs = list(v1(file_by_filename=name).file_descriptor_response.file_descriptor_proto)
        if descriptor_pb2.FileDescriptorProto.FromString(blobs[0]).name != name:
            raise Rejected(f'file_by_filename {name}: the first descriptor is not the file asked for')
        pool, files = fresh_pool(blobs, f'file_by_filename {name}')
        pool.FindFileByName(name)
        for n, (fd, b) in files.items():
            if served.setdefault(n, b) != b:
                raise Rejected(f'{n}: different bytes by name and by symbol')
    v1alpha_blobs = list(v1alpha(file_by_filename=next(iter(served))).file_descriptor_response.file_descriptor_proto)
    fresh_pool(v1alpha_blobs, 'v1alpha file_by_filename')
    out['files'] = {n: base64.b64encode(b).decode() for n, b in served.items()}

    # The README's grpcurl commands, resolved the way grpcurl resolves them: symbols through reflection.
    out['commands'] = []
    for argv in readme_commands(opts.readme):
        verb, rest, data = parse_grpcurl(argv)
        entry = {'argv': argv}
        if verb == 'list':
            entry['op'] = 'list'
            if rest:
                pool, _ = fresh_pool(v1(file_containing_symbol=rest[0]).file_descriptor_response.file_descriptor_proto, 'list')
                entry['output'] = [m.full_name for m in pool.FindServiceByName(rest[0]).methods]
            else:
                entry['output'] = [s.name for s in v1(list_services='*').list_services_response.service]
        elif verb == 'describe':
            entry['op'] = 'describe'
            pool, _ = fresh_pool(v1(file_containing_symbol=rest[0]).file_descriptor_response.file_descriptor_proto, 'describe')
            entry['output'] = describe(pool, rest[0])
        else:
            entry['op'] = 'call'
            svc_name, _, method_name = verb.replace('/', '.').rpartition('.')
            pool, _ = fresh_pool(v1(file_containing_symbol=svc_name).file_descriptor_response.file_descriptor_proto, verb)
            method = pool.FindServiceByName(svc_name).methods_by_name[method_name]
            factory = message_factory.MessageFactory(pool)
            req_cls, res_cls = factory.GetPrototype(method.input_type), factory.GetPrototype(method.output_type)
            request = json_format.Parse(data or '{}', req_cls())
            entry['request'] = json_format.MessageToDict(request, preserving_proto_field_name=True)
            path = f'/{svc_name}/{method_name}'
            ser, de = req_cls.SerializeToString, res_cls.FromString
            if method.client_streaming:
                raise Rejected(f'{verb}: client streaming is not something the README does')
            if method.server_streaming:
                answers = list(channel.unary_stream(path, request_serializer=ser, response_deserializer=de)(request, timeout=20))
            else:
                answers = [channel.unary_unary(path, request_serializer=ser, response_deserializer=de)(request, timeout=20)]
            entry['output'] = [json_format.MessageToDict(a) for a in answers]
        out['commands'].append(entry)
    channel.close()
    json.dump(out, sys.stdout)
    sys.stdout.write('\n')


if __name__ == '__main__':
    try:
        main()
    except Rejected as e:
        print(f'strict-client: {e}', file=sys.stderr)
        sys.exit(1)
    except grpc.RpcError as e:
        print(f'strict-client: RPC failed: {e.code()}: {e.details()}', file=sys.stderr)
        sys.exit(1)
