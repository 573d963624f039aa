// Which lab a command means when the user does not say: the labs that exist (their state under
// /run/calitrace/<prefix>/ and their node namespaces), CALITRACE_LAB_PREFIX, the default prefix 'ct', and
// — when nothing else decides — the only lab that is up. Also reads "nx-node1" as node1 of lab nx.
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { STATE_ROOT, readState } from './state';
import { netnsExists } from './netns';
import { nodeNetnsName } from './naming';

export const DEFAULT_PREFIX = 'ct';
export const PREFIX_ENV = 'CALITRACE_LAB_PREFIX';

export interface LabSummary {
  prefix: string;
  /** Both node namespaces exist. */
  up: boolean;
  createdAt?: string;
  pods: number;
  namespaces: number;
}

/** Every lab with a state record, up or not, by prefix. */
export function listLabs(): LabSummary[] {
  if (!existsSync(STATE_ROOT)) return [];
  const out: LabSummary[] = [];
  for (const prefix of readdirSync(STATE_ROOT).sort()) {
    if (!existsSync(join(STATE_ROOT, prefix, 'lab.json'))) continue;
    let state;
    try {
      state = readState(prefix);
    } catch {
      state = undefined;
    }
    const up = netnsExists(nodeNetnsName(prefix, 'node1')) && netnsExists(nodeNetnsName(prefix, 'node2'));
    out.push({ prefix, up, createdAt: state?.createdAt, pods: state?.pods.length ?? 0, namespaces: state?.namespaces.length ?? 0 });
  }
  return out;
}

export function labsUp(): string[] {
  return listLabs()
    .filter((l) => l.up)
    .map((l) => l.prefix);
}

/** "labs up: a, b" / "no lab is up", for error messages. */
export function labsUpText(): string {
  const up = labsUp();
  return up.length ? `lab${up.length > 1 ? 's' : ''} up: ${up.join(', ')}` : 'no lab is up (calitrace lab up)';
}

export interface ChosenPrefix {
  prefix: string;
  /** How it was chosen, when the user did not say it: printed on stderr so nobody is surprised. */
  note?: string;
}

/**
 * The lab a command acts on. `explicit` (--prefix) wins, then CALITRACE_LAB_PREFIX. For commands on an
 * existing lab (`existing`), the default 'ct' when it is up, else the only lab that is up; otherwise 'ct'.
 */
export function choosePrefix(explicit: string | undefined, existing: boolean): ChosenPrefix {
  if (explicit) return { prefix: explicit };
  const env = process.env[PREFIX_ENV];
  if (env) return { prefix: env };
  if (!existing) return { prefix: DEFAULT_PREFIX };
  const up = labsUp();
  if (up.includes(DEFAULT_PREFIX) || up.length !== 1) return { prefix: DEFAULT_PREFIX };
  return { prefix: up[0], note: `using lab '${up[0]}', the only lab that is up (the default is '${DEFAULT_PREFIX}'; --prefix or ${PREFIX_ENV} choose another)` };
}

/**
 * "nx-node1" → { prefix: 'nx', target: 'node1' } when lab nx exists. "ct-node1" (the default lab's node, as
 * the examples write it) when lab ct does not exist → the lab choosePrefix() picks, with a note.
 */
export function splitPrefixedTarget(target: string): (ChosenPrefix & { target: string }) | undefined {
  const m = /^([a-z][a-z0-9]{0,11})-(.+)$/.exec(target);
  if (!m) return undefined;
  const known = listLabs().some((l) => l.prefix === m[1]) || netnsExists(target);
  if (known) return { prefix: m[1], target: m[2] };
  if (m[1] === DEFAULT_PREFIX) {
    const chosen = choosePrefix(undefined, true);
    if (chosen.prefix !== DEFAULT_PREFIX) {
      const why = process.env[PREFIX_ENV] ? `${PREFIX_ENV}=${chosen.prefix}` : 'the only lab that is up';
      return { prefix: chosen.prefix, target: m[2], note: `lab '${DEFAULT_PREFIX}' does not exist; ${target} means ${chosen.prefix}-${m[2]} (${why})` };
    }
  }
  return undefined;
}

/**
 * A --netns value as the user typed it, mapped to a lab node when it names one of a lab that is not up:
 * "ct-node1" (the default lab's node, as the examples write it) becomes "<prefix>-node1" of the lab
 * CALITRACE_LAB_PREFIX names, or of the only lab that is up. Any existing namespace is used as is.
 */
export function resolveLabNetns(name: string): ChosenPrefix & { netns: string } {
  if (netnsExists(name)) return { prefix: '', netns: name };
  const m = /^([a-z][a-z0-9]{0,11})-(node1|node2|net)$/.exec(name);
  if (m && m[1] === DEFAULT_PREFIX) {
    const chosen = choosePrefix(undefined, true);
    const mapped = `${chosen.prefix}-${m[2]}`;
    if (chosen.prefix !== DEFAULT_PREFIX && netnsExists(mapped)) {
      const why = process.env[PREFIX_ENV] ? `${PREFIX_ENV}=${chosen.prefix}` : `the only lab that is up`;
      return { prefix: chosen.prefix, netns: mapped, note: `namespace ${name} does not exist; using ${mapped} (lab '${chosen.prefix}', ${why})` };
    }
  }
  return { prefix: '', netns: name };
}

/** Why a namespace cannot be opened, with the labs that are up when it looks like a lab node. */
export function missingNetnsHint(name: string): string {
  if (netnsExists(name)) return '';
  const lab = /^([a-z][a-z0-9]{0,11})-(node1|node2|net)$/.exec(name);
  if (!lab) return ` (see: ip netns list)`;
  return ` (namespace ${name} does not exist: lab '${lab[1]}' is not up — run 'calitrace lab up${lab[1] === DEFAULT_PREFIX ? '' : ` --prefix ${lab[1]}`}'; ${labsUpText()})`;
}
