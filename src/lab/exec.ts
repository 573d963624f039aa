// Runs a command inside a lab node or pod, named the way people think of them: node1, ems203-w1, a pod IP.
import { netNetnsName, validatePrefix } from './naming';
import { netnsExists } from './netns';
import { run, RunOptions, RunResult } from './run';
import { labInfo, nodeNetns } from './info';
import { resolveNodeId } from './topology';
import { labsUpText } from './labs';

/** Resolves node1|node2|<k8s node name>|net|<pod IP>|<namespace>/<pod> to the namespace it runs in. */
export function resolveTarget(prefix: string, target: string): string {
  validatePrefix(prefix);
  if (!netnsExists(nodeNetns(prefix, 'node1'))) {
    throw new Error(`lab '${prefix}' is not up: run 'calitrace lab up --prefix ${prefix}', or pick another lab with --prefix or CALITRACE_LAB_PREFIX (${labsUpText()})`);
  }
  let netns: string | undefined;
  const node = resolveNodeId(target);
  if (node) netns = nodeNetns(prefix, node);
  else if (target === 'net') netns = netNetnsName(prefix);
  else {
    const pod = labInfo(prefix).pods.find((p) => p.ip === target || `${p.namespace}/${p.name}` === target);
    if (!pod) {
      throw new Error(
        `'${target}' is not a node or pod of lab '${prefix}': use node1, node2, net, a pod IP or namespace/pod (see: calitrace lab status --prefix ${prefix}; ${labsUpText()})`,
      );
    }
    netns = pod.netns;
  }
  if (!netnsExists(netns)) throw new Error(`lab '${prefix}' is not up (namespace ${netns} does not exist): run 'calitrace lab up --prefix ${prefix}', or pick another lab with --prefix (${labsUpText()})`);
  return netns;
}

/** The argv that runs `argv` in the target's namespace (for callers that want to spawn it themselves). */
export function labExecArgv(prefix: string, target: string, argv: string[]): string[] {
  if (argv.length === 0) throw new Error('nothing to run: give a command after --, e.g. -- ip route');
  return ['ip', 'netns', 'exec', resolveTarget(prefix, target), ...argv];
}

export function labExec(prefix: string, target: string, argv: string[], opts: Omit<RunOptions, 'input'> = {}): Promise<RunResult> {
  return run(labExecArgv(prefix, target, argv), opts);
}
