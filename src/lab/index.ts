// The built-in lab: a two-node Calico VXLAN cluster (docs/lab.md: addresses, routes, interface names) built only
// inside network namespaces named <prefix>-node1, <prefix>-node2, <prefix>-net and <prefix>-<caliXXX>.
import { randomBytes } from 'node:crypto';
import { addPod, buildLab, PodAddOptions } from './build';
import { labInfo, LabInfo } from './info';
import { readLabStatus, LabStatus } from './status';
import { DownResult, deletePod, PodDelOptions, teardownLab } from './teardown';
import { PodRecord } from './state';

export { calicoIfName, vxlanMac, cidrContains, ipToInt, parseCidr, validatePrefix } from './naming';
export { labExec, labExecArgv, resolveTarget } from './exec';
export { labInfo, labNode, nodeNetns, podByIp } from './info';
export type { LabInfo, LabNode, LabPod } from './info';
export { formatLabStatus } from './status';
export type { LabStatus, NodeStatus, PodStatus } from './status';
export type { DownResult, PodDelOptions } from './teardown';
export type { PodAddOptions } from './build';
export * from './topology';
export { runTraffic, parsePingSummary, parseFlowArg, formatFlowResults } from './traffic';
export type { FlowSpec, FlowResult, TrafficOptions } from './traffic';

export { DEFAULT_PREFIX, PREFIX_ENV, choosePrefix, listLabs, labsUp, labsUpText, missingNetnsHint, resolveLabNetns, splitPrefixedTarget } from './labs';
export type { LabSummary, ChosenPrefix } from './labs';
import { DEFAULT_PREFIX } from './labs';

/** A prefix no other run is using: 'l' + 6 random base-36 chars. */
export function randomPrefix(): string {
  const alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789';
  return 'l' + [...randomBytes(6)].map((b) => alphabet[b % alphabet.length]).join('');
}

/** Builds the lab, or completes/repairs it if it exists. A failure removes the namespaces this call created. */
export async function labUp(opts: { prefix?: string } = {}): Promise<LabInfo> {
  const prefix = opts.prefix ?? DEFAULT_PREFIX;
  await buildLab(prefix);
  return labInfo(prefix);
}

export function labDown(opts: { prefix?: string } = {}): Promise<DownResult> {
  return teardownLab(opts.prefix ?? DEFAULT_PREFIX);
}

export function labStatus(opts: { prefix?: string } = {}): Promise<LabStatus> {
  return readLabStatus(opts.prefix ?? DEFAULT_PREFIX);
}

export function podAdd(opts: PodAddOptions): Promise<PodRecord> {
  return addPod(opts);
}

export function podDel(opts: PodDelOptions): Promise<PodRecord> {
  return deletePod(opts);
}
