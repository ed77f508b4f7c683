/**
 * Times for samples sent without one: the arrival time, but at least 1 ms after the last so given to the same
 * device. Samples that arrive in the same millisecond (a batch without times, messages close together) would
 * otherwise share a time, and the store keeps one point per device and time: the others would be lost.
 */
import type { Clock } from '../core/clock.ts';
import { MAX_BATCH_SAMPLES } from '../core/domain/telemetry.ts';
import type { Logger } from '../core/logger.ts';

/** How many devices' last stamps are kept before the passed ones are swept. */
const SWEEP_AT = 10_000;
/** How far ahead of the clock a device's stamps may be when its next message is stamped. */
const LEAD_MS = 1000;

export class Stamps {
  private readonly last = new Map<string, number>();
  // only a time not yet passed can collide: the others go once there are many (and the sweep waits for twice as many)
  private sweepAt = SWEEP_AT;

  constructor(
    private readonly clock: Clock,
    private readonly logger: Logger,
  ) {}

  /** The next time for a sample of this device without its own, arrived at `now`. */
  next(deviceId: string, now: number): number {
    const ts = Math.max(now, (this.last.get(deviceId) ?? -Infinity) + 1);
    if (this.last.size >= this.sweepAt) {
      for (const [id, t] of this.last) if (t < now) this.last.delete(id);
      this.sweepAt = Math.max(SWEEP_AT, 2 * this.last.size);
    }
    this.last.set(deviceId, ts);
    return ts;
  }

  /**
   * A device that sends more than 1,000 samples a second without times gets stamps ahead of the clock. Its next
   * message is taken in (stamped) only once they are at most LEAD_MS ahead, whatever its QoS: the device slows to
   * 1,000 such samples a second, one message's stamps end at most its sample count in ms past that, no stamp is
   * given twice across a restart, and a read up to now misses little. Called right before validation, with no await
   * between the last check and the stamping, so messages of one device arriving together take turns. Stamps further
   * ahead than one message can explain mean the clock stepped back: they start again from now.
   */
  async caughtUp(deviceId: string): Promise<void> {
    for (;;) {
      const last = this.last.get(deviceId);
      if (last === undefined) return;
      const ahead = last - this.clock.now() - LEAD_MS;
      if (ahead <= 0) return;
      if (ahead > MAX_BATCH_SAMPLES + LEAD_MS) {
        this.logger.warn({ deviceId, aheadMs: ahead + LEAD_MS }, 'stamps for samples without ts are far ahead of the clock (it stepped back?): stamping from now');
        this.last.delete(deviceId);
        return;
      }
      await new Promise((r) => setTimeout(r, ahead));
    }
  }
}
