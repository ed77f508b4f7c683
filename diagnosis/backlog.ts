/**
 * What the diagnosis engine has yet to judge: accepted samples in arrival order, device events with their
 * place among those samples, and out-of-range notices. Each tick takes all of it at once.
 *
 * Once maxQueue samples are waiting, samples whose sender can wait (QoS1) wait their turn outside the queue
 * (first come, first queued) and the caller gets a promise that resolves when they are queued: ingest holds
 * the acknowledgement until then, so a fast replay slows down instead of losing decisions. Samples that cannot
 * wait (QoS0) are queued up to twice maxQueue, then dropped (onDrop).
 */
import type { NewDeviceEvent } from '../core/domain/event.ts';
import type { OutOfRangeSample, Point } from '../core/domain/telemetry.ts';

export interface TickInput {
  batch: Point[];
  /** Events with the number of the batch's samples that came before each. */
  events: Array<{ e: NewDeviceEvent; at: number }>;
  outOfRange: OutOfRangeSample[];
}

export function createBacklog(o: {
  maxQueue: number;
  /** Asks for a tick soon. */
  schedule: () => void;
  /** Samples that could not wait were dropped; `waiting` is how many are queued or held. */
  onDrop: (dropped: number, waiting: number) => void;
  /** A sender was made to wait. */
  onHold: () => void;
}) {
  let queue: Point[] = [];
  let events: Array<{ e: NewDeviceEvent; at: number }> = [];
  let outOfRange: OutOfRangeSample[] = [];
  /** Accepted samples waiting for room in the queue, with the acknowledgement each holds back. */
  const held: Array<{ points: readonly Point[]; resolve: () => void }> = [];
  let heldSamples = 0;

  function push(points: readonly Point[]): undefined {
    for (const p of points) queue.push(p);
    o.schedule();
    return undefined;
  }

  /** Moves held samples into the queue while it has room (all of them when stopping), oldest first. */
  function admitHeld(all: boolean): void {
    while (held.length && (all || queue.length < o.maxQueue)) {
      const h = held.shift()!;
      heldSamples -= h.points.length;
      for (const p of h.points) queue.push(p);
      h.resolve();
    }
  }

  return {
    /** Accepted samples; a promise while they wait for room (only when the sender can wait). */
    accept(points: readonly Point[], opts: { canWait: boolean } = { canWait: false }): Promise<void> | undefined {
      if (held.length === 0 && queue.length < o.maxQueue) return push(points);
      if (!opts.canWait) {
        if (queue.length + points.length <= 2 * o.maxQueue) return push(points);
        o.onDrop(points.length, queue.length + heldSamples);
        return undefined;
      }
      o.onHold();
      heldSamples += points.length;
      o.schedule();
      return new Promise<void>((resolve) => held.push({ points, resolve }));
    },

    event(e: NewDeviceEvent): void {
      // its place among the samples that came before it, those held back by a full backlog included
      if (events.length < o.maxQueue) events.push({ e, at: queue.length + heldSamples });
      o.schedule();
    },

    outOfRange(s: OutOfRangeSample): void {
      if (outOfRange.length < o.maxQueue) outOfRange.push(s);
      o.schedule();
    },

    /** Everything queued, for one tick; held samples then take the freed room (all of them with `all`, when stopping). */
    take(all: boolean): TickInput {
      const batch = queue;
      // events that came after samples still held back wait for them (next tick)
      const evs = events.filter((ev) => ev.at <= batch.length);
      events = evs.length === events.length ? [] : events.filter((ev) => ev.at > batch.length).map((ev) => ({ e: ev.e, at: ev.at - batch.length }));
      const oor = outOfRange;
      queue = [];
      outOfRange = [];
      admitHeld(all);
      if (queue.length || events.length) o.schedule();
      return { batch, events: evs, outOfRange: oor };
    },

    /** Whether a tick has something left to take (not counting out-of-range notices, which need no order). */
    pending: (): boolean => queue.length > 0 || events.length > 0,
    queued: (): number => queue.length,
  };
}
