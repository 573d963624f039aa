// A small typed event emitter: one listener list per event name, `on` returns the unsubscribe
// function. A listener that throws is reported on 'error' instead of breaking the publisher's loop,
// so one faulty consumer cannot stop the stream for the others.
export class TypedEmitter<M extends { error: Error }> {
  private readonly listeners: { [K in keyof M]?: ((value: M[K]) => void)[] } = {};

  on<K extends keyof M>(event: K, fn: (value: M[K]) => void): () => void {
    (this.listeners[event] ??= []).push(fn);
    return () => {
      const list = this.listeners[event];
      if (list) this.listeners[event] = list.filter((f) => f !== fn);
    };
  }

  listenerCount(event: keyof M): number {
    return this.listeners[event]?.length ?? 0;
  }

  emit<K extends keyof M>(event: K, value: M[K]): void {
    const list = this.listeners[event];
    if (!list) return;
    for (const fn of list) {
      try {
        fn(value);
      } catch (err) {
        if (event === 'error') throw err;
        this.emit('error', err instanceof Error ? err : new Error(String(err)));
      }
    }
  }
}
