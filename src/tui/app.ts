// The terminal: a blessed screen with a header, one body (the current view, the detail pane or help)
// and a two-line footer (filter prompt or error, then key hints from the keymap). Data arrives through a
// UiSource; every arrival only updates the store and asks the throttle for a frame, so a packet storm
// costs one render per 100 ms, never one per packet.
import blessed from 'blessed';
import { Store, VIEWS } from './store';
import type { FlowRow } from './store';
import { Action, footerHints, lookup } from './keymap';
import { RenderThrottle } from './throttle';
import { escapeMarkup, fit, wrapMarkup } from './escape';
import type { Explanation, NodeStatus, RouteChange, RouteEntry, StitchedView, UiFlowCounts, UiVerdict } from './model';
import { headerLines } from './views/header';
import { renderFlows } from './views/flows';
import { renderPackets } from './views/packets';
import { renderRoutes } from './views/routes';
import { renderDrops } from './views/drops';
import { detailLines } from './views/detail';
import { renderHelp } from './views/help';
import { toAscii } from './ascii';

/** What the UI receives from a source. */
export interface UiSink {
  verdict(v: UiVerdict): void;
  status(s: NodeStatus): void;
  routes(r: RouteEntry[]): void;
  routeChange(c: RouteChange): void;
  /** Loss counted on this client's side (e.g. notices that this subscription's queue overflowed). */
  lost(counter: string, n: number): void;
  /** A server loss counter's running total, announced in the stream. */
  lossTotal(counter: string, total: number): void;
  connection(state: 'connecting' | 'connected' | 'error', message?: string): void;
  /** A relay's stitched cross-node path (a node's own API sends none). */
  stitched?(s: StitchedView): void;
  /** A flow's counts as the collector keeps them. */
  flowCounts?(f: UiFlowCounts): void;
}

/** The sink that fills a store: what the UI does with every item its source delivers. */
export function storeSink(s: Store, changed: () => void = () => undefined): UiSink {
  return {
    verdict: (v) => {
      s.ingest(v);
      s.noteLag(v.timeMs, Date.now());
      changed();
    },
    stitched: (st) => {
      s.addStitched(st);
      changed();
    },
    flowCounts: (f) => {
      if (s.ingestFlowCounts(f)) changed();
    },
    status: (st) => {
      s.setStatus(st);
      changed();
    },
    routes: (r) => {
      s.setRoutes(r, Date.now());
      changed();
    },
    routeChange: (c) => {
      s.applyRouteChange(c, Date.now());
      changed();
    },
    lost: (name, n) => {
      s.addLoss(name, n);
      changed();
    },
    lossTotal: (name, total) => {
      s.setLossTotal(name, total);
      changed();
    },
    connection: (state, message) => {
      if (state === 'connected' && s.connection.state !== 'connected') s.markConnected(Date.now());
      s.connection = { state, message };
      changed();
    },
  };
}

/** Where the data comes from (the gRPC API; see source.ts). */
export interface UiSource {
  start(sink: UiSink): void;
  explain(flow: FlowRow): Promise<Explanation>;
  close(): void;
}

/** Checks a filter in the API's filter language; ok → a predicate applied to verdicts. */
export type FilterCompiler = (
  text: string,
) => { ok: true; match: (v: UiVerdict) => boolean; matchFlow?: (r: FlowRow) => boolean } | { ok: false; error: string };

export interface AppOptions {
  source: UiSource;
  compileFilter: FilterCompiler;
  input?: NodeJS.ReadableStream;
  output?: NodeJS.WritableStream;
  /** Drop colour tags (NO_COLOR): every state is also a word, so nothing is lost. */
  noColor?: boolean;
  fps?: number;
}

const COLOUR_TAG = /\{\/?(black|red|green|yellow|blue|magenta|cyan|white|gray|grey)-(fg|bg)\}/g;

export class App {
  readonly store = new Store();
  private readonly screen: blessed.Widgets.Screen;
  private readonly header: blessed.Widgets.BoxElement;
  private readonly body: blessed.Widgets.BoxElement;
  private readonly footer: blessed.Widgets.BoxElement;
  private readonly throttle: RenderThrottle;
  private readonly flowsState = { top: 0 };
  private editing: string | null = null;
  private done!: () => void;
  private readonly finished = new Promise<void>((r) => (this.done = r));
  private stopped = false;
  private tickTimer: NodeJS.Timeout | null = null;
  private readonly unicode: boolean;

  constructor(private readonly opts: AppOptions) {
    this.screen = blessed.screen({
      input: opts.input as never,
      output: opts.output as never,
      smartCSR: true,
      fullUnicode: true,
      autoPadding: false,
      warnings: false,
      title: 'calitrace',
    });
    const box = (o: blessed.Widgets.BoxOptions) =>
      blessed.box({ parent: this.screen, tags: true, wrap: false, left: 0, width: '100%', ...o });
    this.header = box({ top: 0, height: 4 });
    this.body = box({ top: 4, height: 1 });
    this.footer = box({ bottom: 0, height: 2 });
    this.throttle = new RenderThrottle(() => this.render(), Math.round(1000 / (opts.fps ?? 10)));
    // blessed's own reading of the locale (LANG, LC_ALL, LC_CTYPE): UTF-8 or not.
    this.unicode = Boolean((this.screen as unknown as { tput: { unicode?: boolean } }).tput.unicode);
  }

  /** Runs until the user quits; resolves after the terminal is restored. */
  run(): Promise<void> {
    this.screen.on('keypress', (ch: string | undefined, key: blessed.Widgets.Events.IKeyEventArg) => this.onKey(ch, key));
    this.screen.on('resize', () => this.throttle.flush());
    const s = this.store;
    const ask = () => this.throttle.request();
    this.opts.source.start(storeSink(s, ask));
    // The rate and the route highlights age with time even when nothing arrives.
    this.tickTimer = setInterval(() => this.throttle.request(), 500);
    this.throttle.flush();
    return this.finished;
  }

  /** Restores the terminal (leaves the alternate screen, shows the cursor) and stops the source. */
  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.throttle.stop();
    if (this.tickTimer) clearInterval(this.tickTimer);
    this.opts.source.close();
    this.screen.destroy();
    this.done();
  }

  // ---------------------------------------------------------------- keys

  private onKey(ch: string | undefined, key: blessed.Widgets.Events.IKeyEventArg): void {
    if (!key) return;
    // blessed reports Enter twice ('return', then 'enter'): act on the second only.
    if (key.name === 'return') return;
    const name = key.name === 'enter' ? 'enter' : key.full;
    if (this.editing !== null) {
      this.editKey(ch, key, name);
    } else {
      const b = lookup(name, ch);
      if (b) this.act(b.action);
    }
    if (!this.stopped) this.throttle.flush();
  }

  private editKey(ch: string | undefined, key: blessed.Widgets.Events.IKeyEventArg, name: string): void {
    if (name === 'C-c') return this.stop();
    if (name === 'escape') {
      this.editing = null;
      return;
    }
    if (name === 'enter') {
      const text = this.editing!.trim();
      this.editing = null;
      this.applyFilter(text);
      return;
    }
    if (name === 'backspace') {
      this.editing = this.editing!.slice(0, -1);
      return;
    }
    if (name === 'C-u') {
      this.editing = '';
      return;
    }
    if (ch && !key.ctrl && !key.meta && ch.length === 1 && ch >= ' ' && ch !== '\x7f') this.editing += ch;
  }

  private applyFilter(text: string): void {
    if (text === '') {
      this.store.setFilter('', null);
      return;
    }
    const r = this.opts.compileFilter(text);
    if (r.ok) this.store.setFilter(text, r.match, r.matchFlow);
    else this.store.rejectFilter(text, r.error);
  }

  private act(a: Action): void {
    const s = this.store;
    switch (a.kind) {
      case 'quit':
        return this.stop();
      case 'help':
        s.helpOpen = !s.helpOpen;
        s.helpScroll = 0;
        return;
      case 'pause':
        s.togglePause();
        return;
      case 'filter':
        this.editing = s.filterText;
        return;
      case 'nextView':
        s.closeDetail();
        s.helpOpen = false;
        s.view = VIEWS[(VIEWS.indexOf(s.view) + 1) % VIEWS.length];
        return;
      case 'view':
        s.closeDetail();
        s.helpOpen = false;
        s.view = a.view;
        return;
      case 'move':
        if (s.helpOpen) s.helpScroll = Math.max(0, s.helpScroll + a.delta);
        else if (s.detailKey) s.scrollDetail(a.delta);
        else s.moveSelection(a.delta);
        return;
      case 'top':
        if (s.detailKey) s.detailScroll = 0;
        else s.moveSelection(-1e9);
        return;
      case 'bottom':
        if (s.detailKey) s.scrollDetail(1e9);
        else s.moveSelection(1e9);
        return;
      case 'detail':
        if (s.view === 'flows' && !s.detailKey) this.openDetail();
        return;
      case 'back':
        if (s.helpOpen) s.helpOpen = false;
        else if (s.detailKey) s.closeDetail();
        else s.filterError = null;
        return;
      case 'sort':
        s.cycleSort();
        return;
      case 'reverse':
        s.reverseSort();
        return;
    }
  }

  private openDetail(): void {
    const f = this.store.openDetail();
    if (!f) return;
    const key = f.key;
    const known = this.store.explanation(key);
    if (known && known.state !== 'error') return;
    this.store.setExplanation(key, { state: 'pending' });
    this.opts.source.explain(f).then(
      (e) => this.store.setExplanation(key, e),
      (err: Error) => this.store.setExplanation(key, { state: 'error', message: err.message }),
    ).finally(() => this.throttle.request());
  }

  // ---------------------------------------------------------------- drawing

  private paint(line: string): string {
    const plain = this.opts.noColor ? line.replace(COLOUR_TAG, '') : line;
    return this.unicode ? plain : toAscii(plain);
  }

  private render(): void {
    if (this.stopped) return;
    const s = this.store;
    s.tick(Date.now());
    const width = Math.max(20, Number(this.screen.width) || 80);
    const height = Math.max(8, Number(this.screen.height) || 24);

    const head = headerLines(s, width);
    this.header.top = 0;
    this.header.height = head.length;
    this.header.setContent(head.map((l) => this.paint(l)).join('\n'));

    const bodyTop = head.length;
    const bodyHeight = Math.max(1, height - bodyTop - 2);
    this.body.top = bodyTop;
    this.body.height = bodyHeight;
    this.body.setContent(this.bodyLines(width, bodyHeight).map((l) => this.paint(l)).join('\n'));

    this.footer.setContent(this.footerLines(width).map((l) => this.paint(l)).join('\n'));
    this.screen.render();
  }

  private bodyLines(width: number, height: number): string[] {
    const s = this.store;
    if (s.helpOpen) {
      const all = renderHelp();
      s.helpScroll = Math.min(s.helpScroll, Math.max(0, all.length - height));
      return all.slice(s.helpScroll, s.helpScroll + height);
    }
    if (s.detailKey) {
      const flow = s.detailFlow();
      if (!flow) return ['The flow is gone (evicted). esc goes back.'];
      const all = detailLines(s, flow).flatMap((l) => wrapMarkup(l, width, 5));
      const maxScroll = Math.max(0, all.length - (height - 1));
      s.detailScroll = Math.min(s.detailScroll, maxScroll);
      const more = maxScroll > 0 ? `  lines ${s.detailScroll + 1}-${Math.min(all.length, s.detailScroll + height - 1)} of ${all.length}, up/down scroll` : '';
      return [`{bold}Detail{/bold} (esc closes)${more}`, ...all.slice(s.detailScroll, s.detailScroll + height - 1)];
    }
    switch (s.view) {
      case 'flows':
        return renderFlows(s, width, height, this.flowsState);
      case 'packets':
        return renderPackets(s, width, height);
      case 'routes':
        return renderRoutes(s, width, height);
      case 'drops':
        return renderDrops(s, width, height);
    }
  }

  private footerLines(width: number): string[] {
    const s = this.store;
    let first: string;
    if (this.editing !== null) {
      first = `filter> ${escapeMarkup(this.editing)}_  (enter applies, esc cancels, empty clears)`;
    } else if (s.filterError) {
      first = `{red-fg}{bold}${escapeMarkup(fit(s.filterError, width).trimEnd())}{/bold}{/red-fg}`;
    } else if (s.filterText) {
      first = `filter: ${escapeMarkup(fit(s.filterText, width - 8).trimEnd())}`;
    } else {
      first = 'filter: none (/ to filter)';
    }
    return [first, escapeMarkup(footerHints(width))];
  }
}
