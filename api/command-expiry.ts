import type { Clock } from '../core/clock.ts';
import type { Logger } from '../core/logger.ts';
import type { OpsStore } from '../core/ports.ts';

/** Marks commands no device acknowledged in time as expired, on a timer. */
export function createCommandExpiry(deps: { opsStore: OpsStore; clock: Clock; log: Logger; intervalMs: number }) {
  let timer: NodeJS.Timeout | null = null;
  let running: Promise<void> | null = null;

  async function sweep(): Promise<void> {
    try {
      const expired = await deps.opsStore.expireCommands(deps.clock.now());
      if (expired.length) deps.log.debug({ count: expired.length }, 'commands expired');
    } catch (err) {
      deps.log.warn({ err }, 'expiring commands failed');
    }
  }

  return {
    /** One sweep now; a sweep already under way is joined, not doubled. */
    runOnce(): Promise<void> {
      running ??= sweep().finally(() => {
        running = null;
      });
      return running;
    },
    start() {
      if (timer) return;
      timer = setInterval(() => void this.runOnce(), deps.intervalMs);
      timer.unref();
    },
    /** Stops the timer and waits for a sweep in flight, so the store can close after. */
    async stop() {
      if (timer) clearInterval(timer);
      timer = null;
      await running;
    },
  };
}
