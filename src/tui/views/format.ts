// Small formatting shared by the views. Colour is a second channel only: every state is also a word.
import type { PodRef, Verdict } from '../model';
import { protocolName } from '../../vocabulary';

/** Row colour by verdict: green = as predicted, yellow = dropped as predicted, red = unexpected drop… */
export const VERDICT_COLOUR: Record<Verdict, string> = {
  MATCHED: 'green',
  EXPECTED_DROP: 'yellow',
  DROPPED: 'red',
  DIVERGED: 'magenta',
  STALE_MODEL: 'cyan',
  INCOMPLETE: 'white',
};

export function colourRow(line: string, verdict: Verdict, selected: boolean): string {
  const c = VERDICT_COLOUR[verdict] ?? 'white';
  const coloured = `{${c}-fg}${line}{/${c}-fg}`;
  return selected ? `{inverse}${coloured}{/inverse}` : coloured;
}

export function path(ifaces: string[]): string {
  return ifaces.length ? ifaces.join('>') : '-';
}

export function protoPorts(v: { proto: number; sport: number; dport: number }): string {
  const p = protocolName(v.proto);
  if (v.proto === 6 || v.proto === 17) return `${p} ${v.sport}>${v.dport}`;
  return p;
}

export function clock(ms: number): string {
  const d = new Date(ms);
  const two = (n: number) => String(n).padStart(2, '0');
  return `${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())}`;
}

export function clockMs(ms: number): string {
  return `${clock(ms)}.${String(Math.floor(ms) % 1000).padStart(3, '0')}`;
}

export function micros(us: number | undefined): string {
  if (us === undefined || !Number.isFinite(us)) return '-';
  if (us >= 10_000) return `${(us / 1000).toFixed(0)}ms`;
  if (us >= 1000) return `${(us / 1000).toFixed(1)}ms`;
  return `${Math.round(us)}µs`;
}

export function endpoint(ip: string, pod?: PodRef): string {
  return pod ? `${podName(pod)} ${ip}` : ip;
}

export function podName(pod: PodRef): string {
  return pod.namespace ? `${pod.namespace}/${pod.name}` : pod.name;
}

/**
 * A path cut to `width` the readable way: first Calico interface names are shortened to 'cali' + a few
 * hex digits (still telling pods apart), and only then is the text cut.
 */
export function fitPath(ifaces: string[], width: number): string {
  const full = path(ifaces);
  if (full.length <= width) return full;
  for (const keep of [7, 5, 4, 3, 2]) {
    const short = path(ifaces.map((i) => (/^cali[0-9a-f]{11}$/.test(i) ? `${i.slice(0, 4 + keep)}…` : i)));
    if (short.length <= width) return short;
  }
  return path(ifaces.map((i) => (/^cali[0-9a-f]{11}$/.test(i) ? `${i.slice(0, 7)}…` : i)));
}
