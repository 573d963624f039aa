// Fault injection for the lab: break one thing on a node, send real traffic, collect the verdicts of
// exactly that traffic, and repair — the repair runs even when the traffic or an assertion fails.
import { labExec, LabInfo } from '../../src/lab';
import type { PacketVerdict } from '../../src/path/types';
import type { PathHarness } from './path-lab';

export interface Fault {
  /** What is broken, for messages. */
  name: string;
  /** Where the commands run: a lab target (node1, node2, a pod IP, …). */
  target: string;
  inject: string[][];
  repair: string[][];
}

async function runAll(lab: LabInfo, target: string, cmds: string[][], strict: boolean): Promise<void> {
  for (const argv of cmds) {
    const r = await labExec(lab.prefix, target, argv);
    if (r.code !== 0 && strict) throw new Error(`${argv.join(' ')} in ${target} failed (${r.code}): ${r.stderr || r.stdout}`);
  }
}

/** Injects the fault, runs `fn`, and always repairs (each repair command is tried even if one fails). */
export async function withFault<T>(lab: LabInfo, fault: Fault, fn: () => Promise<T>): Promise<T> {
  try {
    await runAll(lab, fault.target, fault.inject, true);
    return await fn();
  } finally {
    await runAll(lab, fault.target, fault.repair, false);
  }
}

/**
 * Sends `count` echo requests from `from` to `to` (a lab target and an address) and returns the verdicts
 * of exactly those requests, once every one is judged — failing if any is missing or judged twice.
 */
export async function pingVerdicts(
  h: PathHarness,
  lab: LabInfo,
  from: string,
  to: string,
  opts: { count?: number; size?: number; srcAddr?: string; timeoutMs?: number; match?: (v: PacketVerdict) => boolean } = {},
): Promise<PacketVerdict[]> {
  const count = opts.count ?? 3;
  const src = opts.srcAddr ?? from;
  const start = h.verdicts.length;
  const argv = ['ping', '-n', '-c', String(count), '-i', '0.2', '-W', '1'];
  if (opts.size !== undefined) argv.push('-s', String(opts.size), '-M', 'do');
  if (opts.srcAddr) argv.push('-I', opts.srcAddr);
  await labExec(lab.prefix, from, [...argv, to]);
  const mine = (v: PacketVerdict) => v.src === src && v.dst === to && v.proto === 1 && v.icmp?.type === 8 && (opts.match?.(v) ?? true);
  const got = () => h.verdicts.slice(start).filter(mine);
  await h.waitUntil(() => got().length >= count, opts.timeoutMs ?? 10_000, `${count} verdicts for ping ${src} → ${to}`).catch((err: Error) => {
    throw new Error(`${err.message}\nverdicts so far:\n${h.dump((v) => h.verdicts.indexOf(v) >= start) || '(none)'}`);
  });
  // Late records (a drop after neighbour resolution gives up) must join their packet, not add verdicts.
  await h.waitUntil(() => h.rc.collector.counters().correlatorPending === 0, 8_000, 'every open packet judged');
  const out = got();
  const seqs = out.map((v) => v.icmp?.seq).sort((a, b) => (a ?? 0) - (b ?? 0));
  if (out.length !== count || new Set(seqs).size !== count) {
    throw new Error(`expected one verdict per echo request (${count}), got ${out.length} (seq ${seqs.join(',')}):\n${h.dump(mine)}`);
  }
  return out;
}
