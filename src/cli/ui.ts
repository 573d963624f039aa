// `calitrace ui`: the terminal UI as a gRPC client of a running `calitrace serve` / `calitrace trace`,
// on the node or from anywhere that can reach its API.
import { Command, parseCommandArgs, UsageError } from './command';
import { CONNECTION_HELP, CONNECTION_OPTIONS, connectionFrom } from './connection-options';

export const uiCommand: Command = {
  name: 'ui',
  summary: 'live terminal UI (predicted vs observed paths) for a node running calitrace serve',
  help: `Usage: calitrace ui [--server ADDR] [options]

Connects to the calitrace API of a node and shows, live: flows with their predicted and observed paths and
verdicts, packets, the route model (changes highlighted) and drops, with every loss counter in the header.

Options:
${CONNECTION_HELP}
  --last N               recent verdicts to load on connect (default 500)
  --no-color             no colours (also when NO_COLOR is set); verdicts are always written as words
  -h, --help             this help

Keys: ? help, / filter, space pause, enter detail, tab or 1-4 views, s sort, q quit (the help screen lists all).

EXAMPLES
  calitrace ui --server unix:/run/calitrace.sock
  calitrace ui --server 127.0.0.1:4245
  calitrace ui --server node1.example:4245 --tls-ca ca.pem --token-file /etc/calitrace/token
  calitrace demo            # lab + tracer + this UI in one command
`,
  async run(argv) {
    const { values } = parseCommandArgs(
      'ui',
      argv,
      {
        ...CONNECTION_OPTIONS,
        last: { type: 'string' },
        'no-color': { type: 'boolean' },
      },
      false,
    );
    const last = values.last === undefined ? 500 : Number(values.last);
    if (!Number.isInteger(last) || last < 0) throw new UsageError(`--last takes a whole number, got '${values.last}'`);
    // The UI (blessed and its views) loads only when drawn: every other command starts ~0.4 s sooner.
    const { runUi } = await import('../tui/run');
    await runUi({
      ...connectionFrom(values),
      last,
      noColor: values['no-color'] === true || !!process.env.NO_COLOR,
    });
    return 0;
  },
};
