import type { Logger } from '../core/logger.ts';
import type { Metrics } from '../core/metrics.ts';
import type { TelemetryStore } from '../core/ports.ts';
import type { Point } from '../core/domain/telemetry.ts';

export interface TelemetryWriterOptions {
  batchSize: number;
  flushMs: number;
  /** Backoff bounds for a failing store. */
  minBackoffMs?: number;
  maxBackoffMs?: number;
}

/**
 * Drains accepted points into the telemetry store in batches, one write in
 * flight at a time so per-device order is kept, retrying a failed batch with
 * exponential backoff until the store takes it.
 */
export function createTelemetryWriter(deps: { store: TelemetryStore; logger: Logger; metrics: Metrics; onStored?: (points: readonly Point[]) => void }, opts: TelemetryWriterOptions) {
  const { store, logger, metrics } = deps;
  const minBackoff = opts.minBackoffMs ?? 100;
  const maxBackoff = opts.maxBackoffMs ?? 5000;
  let queue: Point[] = [];
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> | undefined;
  let stopped = false;
  let backoff = 0;
  let idleWaiters: Array<() => void> = [];

  const schedule = () => {
    if (running || timer || queue.length === 0) return;
    const delay = backoff > 0 ? backoff : queue.length >= opts.batchSize ? 0 : opts.flushMs;
    timer = setTimeout(() => {
      timer = undefined;
      running = writeOnce().finally(() => {
        running = undefined;
        if (queue.length === 0) {
          idleWaiters.forEach((w) => w());
          idleWaiters = [];
        } else if (!stopped || backoff === 0) schedule();
      });
    }, delay);
  };

  async function writeOnce(): Promise<void> {
    const batch = queue.slice(0, opts.batchSize);
    const started = performance.now();
    try {
      await store.write(batch);
      queue = queue.slice(batch.length);
      metrics.writeQueuePoints.set(queue.length);
      metrics.pointsWritten.inc(batch.length);
      metrics.storeWriteSeconds.observe((performance.now() - started) / 1000);
      if (backoff > 0) logger.info({ queued: queue.length }, 'telemetry store writes recovered');
      backoff = 0;
      deps.onStored?.(batch);
    } catch (err) {
      metrics.storeWriteErrors.inc();
      backoff = Math.min(maxBackoff, backoff === 0 ? minBackoff : backoff * 2);
      logger.warn({ err, queued: queue.length, retryInMs: backoff }, 'telemetry store write failed; will retry');
    }
  }

  return {
    enqueue(points: readonly Point[]): void {
      for (const p of points) queue.push(p);
      metrics.writeQueuePoints.set(queue.length);
      if (queue.length >= opts.batchSize && timer && backoff === 0) {
        clearTimeout(timer);
        timer = undefined;
      }
      schedule();
    },
    queued: () => queue.length,
    /** Resolves when everything queued so far is stored (or the timeout passes). */
    async flush(timeoutMs = 10_000): Promise<boolean> {
      if (queue.length === 0 && !running) return true;
      const idle = new Promise<void>((resolve) => idleWaiters.push(resolve));
      if (timer && backoff === 0) {
        clearTimeout(timer);
        timer = undefined;
      }
      schedule();
      let t: NodeJS.Timeout | undefined;
      const timeout = new Promise<false>((resolve) => (t = setTimeout(() => resolve(false), timeoutMs)));
      const ok = await Promise.race([idle.then(() => true), timeout]);
      clearTimeout(t);
      return ok;
    },
    async stop(timeoutMs = 10_000): Promise<void> {
      const ok = await this.flush(timeoutMs);
      stopped = true;
      if (timer) clearTimeout(timer);
      timer = undefined;
      if (!ok) logger.error({ lost: queue.length }, 'telemetry store unreachable at shutdown; queued points not written');
    },
  };
}
