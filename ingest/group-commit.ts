/**
 * Collects items and hands them to `flush` in batches: when `maxItems` are
 * waiting or `maxDelayMs` after the first one. `add()` resolves once the
 * batch holding the item was flushed, so callers can wait for durability
 * while thousands of items share one write.
 */
export function createGroupCommit<T>(flush: (items: T[]) => Promise<void | ReadonlyArray<unknown>>, opts: { maxItems: number; maxDelayMs: number }) {
  let pending: T[] = [];
  let waiters: Array<{ resolve: () => void; reject: (e: unknown) => void }> = [];
  let timer: NodeJS.Timeout | undefined;
  let chain: Promise<void> = Promise.resolve();

  const run = (): Promise<void> => {
    if (timer) clearTimeout(timer);
    timer = undefined;
    if (pending.length === 0) return chain;
    const items = pending;
    const ws = waiters;
    pending = [];
    waiters = [];
    chain = chain.then(
      () =>
        flush(items).then(
          (failed) => ws.forEach((w, i) => (failed?.[i] === undefined ? w.resolve() : w.reject(failed[i]))),
          (err: unknown) => ws.forEach((w) => w.reject(err)),
        ),
    );
    return chain;
  };

  return {
    add(item: T): Promise<void> {
      return new Promise<void>((resolve, reject) => {
        pending.push(item);
        waiters.push({ resolve, reject });
        if (pending.length >= opts.maxItems) void run();
        else timer ??= setTimeout(() => void run(), opts.maxDelayMs);
      });
    },
    /** Flushes whatever is waiting and resolves when every batch so far is done. */
    drain: run,
    size: () => pending.length,
  };
}
