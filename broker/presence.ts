import type { Client } from 'aedes';
import type { Clock } from '../core/clock.ts';
import type { Logger } from '../core/logger.ts';
import type { Metrics } from '../core/metrics.ts';
import type { OpsStore } from '../core/ports.ts';

/**
 * Online/offline state and last-seen time per device. Connects and
 * disconnects are written at once; last-seen times are coalesced in memory
 * and flushed in one statement per interval, so a busy fleet costs one
 * UPDATE every few seconds rather than one per message.
 */
export function createPresence(deps: { opsStore: OpsStore; logger: Logger; metrics: Metrics; clock: Clock; flushMs?: number }) {
  const { opsStore, logger, metrics, clock } = deps;
  const connected = new Map<string, Client>();
  const lastSeen = new Map<string, number>();
  let timer: NodeJS.Timeout | undefined;
  let flushing: Promise<void> = Promise.resolve();

  const record = (what: string, p: Promise<unknown>) =>
    p.catch((err: unknown) => logger.error({ err, what }, 'presence update failed'));
  /** A device's online/offline writes, one after another in the order they happened (over a pool they could land out of order). */
  const writes = new Map<string, Promise<unknown>>();
  const setPresence = (deviceId: string, online: boolean) => {
    const at = clock.now();
    const p = (writes.get(deviceId) ?? Promise.resolve()).then(() => record(online ? 'online' : 'offline', opsStore.setPresence(deviceId, online, at)));
    writes.set(deviceId, p);
    void p.then(() => writes.get(deviceId) === p && writes.delete(deviceId));
  };

  const flush = (): Promise<void> => {
    if (lastSeen.size === 0) return flushing;
    const entries = [...lastSeen].map(([id, at]) => ({ id, at }));
    lastSeen.clear();
    flushing = flushing.then(() => record('last seen', opsStore.touchLastSeen(entries))).then(() => undefined);
    return flushing;
  };

  return {
    start(): void {
      timer = setInterval(() => void flush(), deps.flushMs ?? 2000);
      timer.unref();
    },
    async stop(): Promise<void> {
      if (timer) clearInterval(timer);
      timer = undefined;
      await flush();
      for (const id of connected.keys()) setPresence(id, false);
      await Promise.all(writes.values());
      connected.clear();
      metrics.connectedDevices.set(0);
    },
    online(deviceId: string, client: Client): void {
      connected.set(deviceId, client);
      metrics.connectedDevices.set(connected.size);
      setPresence(deviceId, true);
    },
    offline(deviceId: string, client: Client): void {
      // a takeover (same id reconnecting) closes the old client after the new one registered
      if (connected.get(deviceId) !== client) return;
      connected.delete(deviceId);
      lastSeen.delete(deviceId);
      metrics.connectedDevices.set(connected.size);
      setPresence(deviceId, false);
    },
    seen(deviceId: string): void {
      lastSeen.set(deviceId, clock.now());
    },
    client(deviceId: string): Client | undefined {
      return connected.get(deviceId);
    },
    count(): number {
      return connected.size;
    },
  };
}

export type Presence = ReturnType<typeof createPresence>;
