// Coalesces render requests: however many events arrive, the screen is drawn at most once per interval
// (100 ms = 10 frames/s). A request during the quiet period schedules one trailing frame, so the last
// state is always shown. The clock is injectable so the behaviour is testable without waiting.

export interface Clock {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export const realClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
};

export class RenderThrottle {
  frames = 0;
  requests = 0;
  private last = -Infinity;
  private timer: unknown = null;
  private stopped = false;

  constructor(
    private readonly render: () => void,
    readonly intervalMs = 100,
    private readonly clock: Clock = realClock,
  ) {}

  request(): void {
    this.requests++;
    if (this.stopped || this.timer !== null) return;
    const wait = this.last + this.intervalMs - this.clock.now();
    if (wait <= 0) this.fire();
    else this.timer = this.clock.setTimeout(() => this.fire(), wait);
  }

  /** Draws now (a key press must feel immediate) and restarts the interval. */
  flush(): void {
    if (this.stopped) return;
    if (this.timer !== null) this.clock.clearTimeout(this.timer);
    this.fire();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer !== null) this.clock.clearTimeout(this.timer);
    this.timer = null;
  }

  private fire(): void {
    this.timer = null;
    this.last = this.clock.now();
    this.frames++;
    this.render();
  }
}
