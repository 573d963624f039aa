// What a lab made, kept in /run/calitrace/<prefix>/lab.json so `down` removes exactly that and `status`,
// `exec` and `pod del` can find pods added at run time. Reads and writes are synchronous on purpose: a
// read-modify-write then never interleaves with another one in the same process; a lock file keeps
// separate processes (several `calitrace lab pod add` at once) from losing each other's updates.
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { NodeId } from './topology';

// CALITRACE_STATE_DIR moves the records elsewhere (a test that needs to be the only lab on the machine).
export const STATE_ROOT = process.env.CALITRACE_STATE_DIR || '/run/calitrace';

export interface PodRecord {
  node: NodeId;
  namespace: string;
  name: string;
  ip: string;
  ifname: string;
  netns: string;
}

export interface LabState {
  version: 1;
  prefix: string;
  createdAt: string;
  /** Every namespace this lab created, recorded just BEFORE creating it so a crash still leaves a trail. */
  namespaces: string[];
  pods: PodRecord[];
}

export function stateDir(prefix: string): string {
  return join(STATE_ROOT, prefix);
}

function statePath(prefix: string): string {
  return join(stateDir(prefix), 'lab.json');
}

export function readState(prefix: string): LabState | undefined {
  const path = statePath(prefix);
  if (!existsSync(path)) return undefined;
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as LabState;
  } catch (err) {
    throw new Error(`lab state ${path} is unreadable (${(err as Error).message}); remove it and run 'calitrace lab down --prefix ${prefix}'`);
  }
}

function writeState(state: LabState): void {
  mkdirSync(stateDir(state.prefix), { recursive: true });
  const path = statePath(state.prefix);
  writeFileSync(`${path}.tmp`, JSON.stringify(state, null, 2) + '\n');
  renameSync(`${path}.tmp`, path);
}

const LOCK_WAIT_MS = 5000;
/** A lock older than this belongs to a process that died between open and unlink. */
const LOCK_STALE_MS = 10000;

function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

function withLock<T>(prefix: string, fn: () => T): T {
  mkdirSync(stateDir(prefix), { recursive: true });
  const lock = join(stateDir(prefix), 'lock');
  const until = Date.now() + LOCK_WAIT_MS;
  for (;;) {
    try {
      closeSync(openSync(lock, 'wx'));
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      try {
        if (Date.now() - statSync(lock).mtimeMs > LOCK_STALE_MS) unlinkSync(lock);
      } catch {
        // released meanwhile
      }
      if (Date.now() > until) throw new Error(`lab state of '${prefix}' is locked by another calitrace (${lock}); retry, or remove the file if no calitrace runs`);
      sleepSync(5);
    }
  }
  try {
    return fn();
  } finally {
    rmSync(lock, { force: true });
  }
}

export function updateState(prefix: string, change: (s: LabState) => void): LabState {
  return withLock(prefix, () => updateUnlocked(prefix, change));
}

function updateUnlocked(prefix: string, change: (s: LabState) => void): LabState {
  const state = readState(prefix) ?? {
    version: 1 as const,
    prefix,
    createdAt: new Date().toISOString(),
    namespaces: [],
    pods: [],
  };
  change(state);
  writeState(state);
  return state;
}

export function removeState(prefix: string): void {
  rmSync(stateDir(prefix), { recursive: true, force: true });
}
