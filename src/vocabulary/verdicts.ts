// The verdicts a packet can get: the one list. `type Verdict`, the filters' accepted names, the UI's
// columns and every per-verdict count derive from it, so a new verdict is added here and nowhere else.

export const VERDICTS = [
  'MATCHED', // observed path = predicted path
  'DIVERGED', // left through another device than predicted
  'DROPPED', // the kernel dropped it unexpectedly
  'EXPECTED_DROP', // prediction said blackhole/unreachable/prohibit and it was dropped
  'INCOMPLETE', // no egress and no drop seen within the window
  'STALE_MODEL', // our prediction and the kernel view disagree
] as const;

export type Verdict = (typeof VERDICTS)[number];

/** Per-verdict packet counts. */
export type VerdictCounts = Record<Verdict, number>;

export function isVerdict(text: string): text is Verdict {
  return (VERDICTS as readonly string[]).includes(text);
}

/** Every verdict at zero, in the list's order (the same object shape every time). */
export function emptyVerdictCounts(): VerdictCounts {
  const c = {} as VerdictCounts;
  for (const v of VERDICTS) c[v] = 0;
  return c;
}
