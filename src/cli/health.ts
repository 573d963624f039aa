// `calitrace health`: asks a calitrace API (serve or relay) whether it is SERVING, through grpc.health.v1.
// Made for Kubernetes exec probes: kubelet's own gRPC probe speaks plaintext only, and calitrace's API
// on a node address needs TLS.
import { Command, parseCommandArgs, intOption } from './command';
import { CONNECTION_HELP, CONNECTION_OPTIONS, connectionFrom } from './connection-options';
import { CalitraceClient } from '../api/client';

const HELP = `calitrace health — is a calitrace API serving? (grpc.health.v1 Check; for readiness probes)

Usage: calitrace health [--server ADDR] [--service NAME] [--timeout MS] [TLS options]

Prints the serving status and exits 0 when it is SERVING, 1 otherwise (or when the server cannot be reached).
The health service needs no token or client certificate, only TLS to verify the server where it uses TLS.

Options:
${CONNECTION_HELP}
  --service NAME         the service to check ('' = the server as a whole, calitrace.v1.Calitrace)
  --timeout MS           give up after MS milliseconds (default 3000)
  -h, --help             this help

EXAMPLES
  calitrace health                                   # the local serve on 127.0.0.1:4245
  calitrace health --server 10.0.0.11:4245 --tls-ca /etc/calitrace/tls/ca.crt --tls-server-name calitrace-node
`;

async function run(argv: string[]): Promise<number> {
  const { values } = parseCommandArgs('health', argv, { ...CONNECTION_OPTIONS, service: { type: 'string' }, timeout: { type: 'string' } }, false);
  const client = new CalitraceClient(connectionFrom(values));
  try {
    const status = await client.healthCheck(values.service ?? '', intOption('timeout', values.timeout, 3000));
    process.stdout.write(`${status}\n`);
    return status === 'SERVING' ? 0 : 1;
  } catch (err) {
    process.stderr.write(`calitrace health: ${(err as Error).message}\n`);
    return 1;
  } finally {
    client.close();
  }
}

export const healthCommand: Command = {
  name: 'health',
  summary: 'check that a calitrace API (serve or relay) is serving (for readiness probes)',
  help: HELP,
  run,
};
