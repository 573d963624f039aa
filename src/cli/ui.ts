// `calitrace ui`: the terminal UI as a gRPC client of a running `calitrace serve` / `calitrace trace`,
// on the node or from anywhere that can reach its API.
import { Command, parseCommandArgs, UsageError } from './command';
import { runUi } from '../tui/run';
import { DEFAULT_LISTEN } from '../api/security';

export const uiCommand: Command = {
  name: 'ui',
  summary: 'live terminal UI (predicted vs observed paths) for a node running calitrace serve',
  help: `Usage: calitrace ui [--server ADDR] [options]

Connects to the calitrace API of a node and shows, live: flows with their predicted and observed paths and
verdicts, packets, the route model (changes highlighted) and drops, with every loss counter in the header.

Options:
  --server ADDR             API address: unix:/path/to.sock or HOST:PORT (default ${DEFAULT_LISTEN},
                            where \`calitrace serve\` listens by default)
  --tls                     use TLS (implied by the --tls-* files below); system roots verify the server
  --tls-ca FILE             CA certificate (PEM) that signed the server's certificate
  --tls-client-cert FILE    client certificate (PEM), for servers that require mutual TLS
  --tls-client-key FILE     client key (PEM)
  --tls-server-name NAME    name to verify in the server certificate when it differs from the host
  --token TOKEN             bearer token; also read from CALITRACE_TOKEN
  --last N                  recent verdicts to load on connect (default 500)
  --no-color                no colours (also when NO_COLOR is set); verdicts are always written as words
  -h, --help                this help

Keys: ? help, / filter, space pause, enter detail, tab or 1-4 views, s sort, q quit (the help screen lists all).

EXAMPLES
  calitrace ui --server unix:/run/calitrace.sock
  calitrace ui --server 127.0.0.1:4245
  calitrace ui --server node1.example:4245 --tls-ca ca.pem --token "$TOKEN"
  calitrace demo            # lab + tracer + this UI in one command
`,
  async run(argv) {
    const { values } = parseCommandArgs(
      'ui',
      argv,
      {
        server: { type: 'string' },
        tls: { type: 'boolean' },
        'tls-ca': { type: 'string' },
        'tls-client-cert': { type: 'string' },
        'tls-client-key': { type: 'string' },
        'tls-server-name': { type: 'string' },
        token: { type: 'string' },
        last: { type: 'string' },
        'no-color': { type: 'boolean' },
      },
      false,
    );
    if (!!values['tls-client-cert'] !== !!values['tls-client-key']) throw new UsageError('--tls-client-cert and --tls-client-key go together');
    const last = values.last === undefined ? 500 : Number(values.last);
    if (!Number.isInteger(last) || last < 0) throw new UsageError(`--last takes a whole number, got '${values.last}'`);
    await runUi({
      server: values.server ?? DEFAULT_LISTEN,
      tls: values.tls,
      caFile: values['tls-ca'],
      certFile: values['tls-client-cert'],
      keyFile: values['tls-client-key'],
      serverName: values['tls-server-name'],
      token: values.token ?? process.env.CALITRACE_TOKEN,
      last,
      noColor: values['no-color'] === true || !!process.env.NO_COLOR,
    });
    return 0;
  },
};
