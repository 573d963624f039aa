// Benchmark (issue 10): serve's CPU per Observe item on the API side — publishing into the hub, the
// filter subject, protobuf encoding — for the items one new flow makes in case mode (a verdict line and
// two flow updates), with the history full (10 000 items) as on a running server, so the garbage its
// items hold on to is collected as it would be there.
//
//   node dist/scripts/bench-feed.js [--rounds 5] [--items 60000] [--compare DIR]
//
// The items are real: a fresh lab, the collector in case mode on node1, 300 new UDP flows from one pod
// (one datagram each); their verdicts and flow summaries are recorded, the lab is torn down, then they
// are published again and again in this process. --compare DIR: the same with DIR's build of the feed
// (DIR/dist/src/api/feed.js, e.g. a worktree of an older commit), interleaved round by round.
// CPU is process.cpuUsage (every thread: the garbage collector's helpers count).
import * as os from 'node:os';
import * as path from 'node:path';
import { labUp, labDown, randomPrefix, nodeNetns, labExec } from '../src/lab';
import { startCollector } from '../src/collector/start';
import type { FlowSummary, PacketVerdict } from '../src/path/types';
import type { PodDirectory, PodInfo } from '../src/pods/directory';

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : fallback;
}

async function recordItems(): Promise<{ verdicts: PacketVerdict[]; flows: FlowSummary[] }> {
  const prefix = randomPrefix();
  await labUp({ prefix });
  const verdicts: PacketVerdict[] = [];
  const flows: FlowSummary[] = [];
  try {
    const running = await startCollector({ netns: nodeNetns(prefix, 'node1'), mode: 'case' });
    running.collector.on('verdict', (v) => verdicts.push(v));
    running.collector.on('flow', (f) => flows.push(f));
    // 300 new flows, 5 every 10 ms, each one datagram from its own source port.
    const script =
      "const d=require('dgram');let i=0;const t=setInterval(()=>{for(let k=0;k<5&&i<300;k++){const s=d.createSocket('udp4');" +
      "s.bind(30000+i++,()=>s.send(Buffer.alloc(32),7001,'10.233.101.224',()=>s.close()));}if(i>=300)clearInterval(t);},10)";
    await labExec(prefix, '10.233.101.222', [process.execPath, '-e', script]);
    await new Promise((r) => setTimeout(r, 1500)); // the case counts and the flow updates that follow them
    await running.stop();
  } finally {
    await labDown({ prefix });
  }
  return { verdicts, flows };
}

// The lab's pods by IP, looked up in a map as a lab node's serve does (src/pods/lab.ts).
const podByIp = new Map<string, PodInfo>();
const pods: PodDirectory = (ip) => {
  if (!ip.startsWith('10.233.')) return undefined;
  let p = podByIp.get(ip);
  if (!p) podByIp.set(ip, (p = { namespace: 'default', name: `pod-${ip.split('.').pop()}`, node: 'ems203-w2', iface: 'cali11299111064' }));
  return p;
};

type FeedModule = typeof import('../src/api/feed');

/** µs of CPU per item over `items` items (after a warm-up of as many). */
function measure(mod: FeedModule, data: { verdicts: PacketVerdict[]; flows: FlowSummary[] }, items: number): number {
  const feed = new mod.ObserveFeed({ node: 'ems203-w2', pods, hub: { historyCapacity: 10000 } });
  // One follower of what the UI asks, drained after every flow's items as the gRPC pump would.
  const sub = feed.hub.subscribe({ follow: true, queueCapacity: 1 << 20, topics: new Set(['VERDICT', 'FLOW', 'ROUTE_CHANGE']), match: (v) => v.subject.type !== 'PACKET' });
  const { verdicts, flows } = data;
  let n = 0;
  const run = (k: number) => {
    for (let i = 0; i < k; i++) {
      feed.verdict(verdicts[i % verdicts.length]);
      feed.flow(flows[(2 * i) % flows.length]);
      feed.flow(flows[(2 * i + 1) % flows.length]);
      for (let d = sub.pull(); d; d = sub.pull()) {
        if (d.kind === 'item') {
          feed.encode(d.item);
          n++;
        }
      }
    }
  };
  run(items / 3);
  n = 0;
  const c0 = process.cpuUsage();
  run(items / 3);
  const c = process.cpuUsage(c0);
  return (c.user + c.system) / n;
}

async function main(): Promise<void> {
  const rounds = Number(arg('rounds', '5'));
  const items = Number(arg('items', '60000'));
  const compare = arg('compare', '');
  const load = () => os.loadavg().map((x) => x.toFixed(2)).join(' ');
  console.log(`bench-feed: ${os.cpus().length} CPUs, Node ${process.version}, load average ${load()}; ${rounds} rounds × ${items} items`);
  const data = await recordItems();
  console.log(`recorded ${data.verdicts.length} verdicts and ${data.flows.length} flow updates from 300 new flows`);
  const builds: [string, FeedModule][] = [['this build', await import('../src/api/feed')]];
  if (compare) builds.push([compare, (await import(path.resolve(compare, 'dist', 'src', 'api', 'feed.js'))) as FeedModule]);
  const got = new Map<string, number[]>(builds.map(([l]) => [l, []]));
  for (let r = 1; r <= rounds; r++) {
    for (const [label, mod] of r % 2 === 0 ? [...builds].reverse() : builds) {
      const us = measure(mod, data, items);
      got.get(label)!.push(us);
      console.log(`round ${r}: ${label}: ${us.toFixed(2)} µs CPU per item (publish + subject + encode; verdict : flow update = 1 : 2)`);
    }
  }
  console.log(`\nsummary (load average now ${load()}): min / median µs CPU per item`);
  for (const [label, xs] of got) {
    const s = [...xs].sort((a, b) => a - b);
    console.log(`  ${label}: ${s[0].toFixed(2)} / ${s[Math.floor(s.length / 2)].toFixed(2)}`);
  }
}

main().then(
  () => process.exit(0),
  (e) => {
    console.error(`bench-feed: ${e instanceof Error ? e.stack : e}`);
    process.exit(1);
  },
);
