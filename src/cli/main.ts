// The calitrace command: dispatches to one module per subcommand. Wiring only.
import { Command, UsageError } from './command';
import { didYouMean } from '../util/did-you-mean';
import { labCommand } from './lab';
import { uiCommand } from './ui';
import { demoCommand } from './demo';
import { traceCommand } from './trace';
import { explainCommand } from './explain';
import { serveCommand } from './serve';
import { observeCommand } from './observe';
import { statusCommand } from './status';
import { relayCommand } from './relay';
import { healthCommand } from './health';
import { VERSION } from '../util/version';
import { stopWithNpmParent } from './npm-parent';
import * as grpc from '@grpc/grpc-js';

// Each subcommand module adds itself here, one line each.
const commands: Command[] = [labCommand, traceCommand, uiCommand, demoCommand, explainCommand, serveCommand, observeCommand, statusCommand, relayCommand, healthCommand];

function usage(): string {
  const width = Math.max(...commands.map((c) => c.name.length));
  const lines = commands.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`);
  return `calitrace ${VERSION} — live packet tracer for Kubernetes nodes running Calico

Usage: calitrace <command> [options]

Commands:
${lines.join('\n')}

Run 'calitrace <command> --help' for the options and examples of a command.

Examples:
  calitrace lab up                 # build the two-node Calico lab in network namespaces (prefix ct)
  calitrace lab exec node1 -- ip route
  calitrace explain 10.233.101.222 10.233.101.224 --netns ct-node1
  calitrace lab down
`;
}

export async function main(argv: string[]): Promise<number> {
  // grpc-js prints its own terse lines ("E No address added …") next to ours, which already say what failed
  // and the fix; GRPC_VERBOSITY=DEBUG|INFO|ERROR brings them back when debugging gRPC itself.
  if (!process.env.GRPC_VERBOSITY) grpc.setLogVerbosity(grpc.logVerbosity.NONE);
  const [name, ...rest] = argv;
  if (!name || name === '-h' || name === '--help' || name === 'help') {
    process.stdout.write(usage());
    return name ? 0 : 2;
  }
  if (name === '--version' || name === '-V') {
    process.stdout.write(`${VERSION}\n`);
    return 0;
  }
  const command = commands.find((c) => c.name === name);
  if (!command) {
    process.stderr.write(`calitrace: unknown command '${name}'${didYouMean(name, commands.map((c) => c.name))}\n\n${usage()}`);
    return 2;
  }
  if (rest[0] === '-h' || rest[0] === '--help' || (rest.length === 1 && rest[0] === 'help')) {
    process.stdout.write(command.help);
    return 0;
  }
  stopWithNpmParent();
  try {
    return await command.run(rest);
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`calitrace ${name}: ${err.message}\n`);
      return 2;
    }
    throw err;
  }
}
