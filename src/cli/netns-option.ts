// --netns as every command reads it: an existing namespace as is; "ct-node1" (the default lab's node, as the
// examples write it) mapped to the lab CALITRACE_LAB_PREFIX names or the only lab that is up, said on
// stderr; a namespace that does not exist is a usage error naming the labs that are up.
import { UsageError } from './command';
import { missingNetnsHint, resolveLabNetns } from '../lab/labs';
import { netnsExists } from '../lab/netns';

export function netnsOption(name: string | undefined, command: string): string | undefined {
  if (name === undefined) return undefined;
  const r = resolveLabNetns(name);
  if (r.note) process.stderr.write(`calitrace ${command}: ${r.note}\n`);
  if (!netnsExists(r.netns)) throw new UsageError(`--netns ${name}: no such network namespace${missingNetnsHint(r.netns)}`);
  return r.netns;
}
