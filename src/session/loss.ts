// The one line a node session ends with: what was judged and every place something was lost, zeros
// included — so `serve`, `trace --no-ui` and the UI's trace say the same thing the same way.
import type { CollectorCounters } from '../collector/types';

export function lossLine(c: CollectorCounters, lostBySubscribers: number): string {
  const verdicts = Object.entries(c.verdicts)
    .map(([k, n]) => `${k} ${n}`)
    .join(', ');
  return (
    `${c.received} events, ${c.packets} packets judged (${verdicts}); lost: ${c.lostKernel} in kernel, ` +
    `${c.lostPipe} in pipe, ${lostBySubscribers} by slow subscribers, ${c.loaderRestarts} loader restarts; ` +
    `evicted: ${c.correlatorEvictions} open packets, ${c.flowEvictions} flows; ${c.predictErrors} prediction errors`
  );
}
