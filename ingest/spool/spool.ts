import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Clock } from '../../core/clock.ts';
import { errors, isFleetdocError, type FleetdocError } from '../../core/errors.ts';
import type { Point } from '../../core/domain/telemetry.ts';
import type { Logger } from '../../core/logger.ts';
import type { Metrics } from '../../core/metrics.ts';
import type { TelemetryStore } from '../../core/ports.ts';
import { decodeRecord, encodeRecord } from './codec.ts';
import { SegmentLog, writeFileDurably } from './segment-log.ts';

export interface SpoolOptions {
  dir: string;
  /** Bound on undrained bytes; past it QoS1 telemetry waits (no PUBACK). */
  maxBytes: number;
  segmentBytes: number;
  /** Points per store write. */
  batchSize: number;
  /** Max wait for a fuller batch. */
  flushMs: number;
  minBackoffMs?: number;
  maxBackoffMs?: number;
}

export interface SpoolDeps {
  store: TelemetryStore;
  logger: Logger;
  metrics: Metrics;
  clock: Clock;
  onStored?: (points: readonly Point[]) => void;
  /** Points the store refuses for good (e.g. an InfluxDB field type conflict): set aside, not retried. */
  onRejected?: (points: readonly Point[], detail: string) => void;
}

/** A store error that retrying cannot fix (the points themselves are refused). */
function isPermanent(err: unknown): err is FleetdocError {
  return isFleetdocError(err) && err.code === errors.validation.code;
}

/**
 * The durable path between acknowledgement and storage. `append()` resolves
 * when the samples are fsynced; a drain loop writes them to the telemetry
 * store in batches, in order, and moves the committed cursor only after the
 * store accepted a batch, so a crash or a store outage replays from the
 * cursor (at-least-once; the stores overwrite identical points).
 */
export function createSpool(deps: SpoolDeps, opts: SpoolOptions) {
  const { store, metrics, clock } = deps;
  const logger = deps.logger.child({ component: 'spool' });
  const log = new SegmentLog(opts.dir, { segmentBytes: opts.segmentBytes, logger });
  const cursorFile = join(opts.dir, 'cursor.json');
  const minBackoff = opts.minBackoffMs ?? 200;
  const maxBackoff = opts.maxBackoffMs ?? 5000;
  let cursor = 0;
  let readPos = 0;
  let appended = 0;
  let drained = 0;
  let backoff = 0;
  let headReceivedAt: number | null = null;
  let headSampleTs: number | null = null;
  let running = false;
  let stopping = false;
  let loop: Promise<void> | undefined;
  /** Wakes the loop when it idles for lack of data. */
  let wakeIdle: (() => void) | undefined;
  /** Wakes the loop from any wait (flush, stop). */
  let wakeAny: (() => void) | undefined;
  let spaceWaiters: Array<() => void> = [];
  let drainWaiters: Array<{ upTo: number; resolve: () => void }> = [];
  let wasFull = false;
  let flushRequested = false;
  /**
   * Records appended by this process, decoded, in log order: the drain loop
   * takes them from here instead of reading and re-parsing the segment
   * files. Bounded; past the bound (a long store outage) the drain reads
   * the files, as it does after a restart.
   */
  /** Records as appended (a cache of the log's tail); `failures`: the log's failed flushes then (see SegmentLog.failures). */
  let mem: Array<{ start: number; end: number; receivedAt: number; points: readonly Point[]; failures: number }> = [];
  let memHead = 0;
  let memBytes = 0;
  const MEM_MAX_BYTES = 64 * 1024 * 1024;
  /** The cursor as last written to disk (throttled). */
  let persistedCursor = 0;
  let lastCursorWrite = 0;
  let cursorWriting: Promise<void> | undefined;

  const bytes = () => log.appendEnd - cursor;
  const isFull = () => bytes() >= opts.maxBytes;

  function updateGauges(): void {
    metrics.spoolBytes.set(bytes());
    metrics.spoolLagMessages.set(Math.max(0, appended - drained));
    const now = clock.now();
    metrics.spoolLagSeconds.set(headReceivedAt === null ? 0 : Math.max(0, (now - headReceivedAt) / 1000));
    metrics.spoolOldestSampleAgeSeconds.set(headSampleTs === null ? 0 : Math.max(0, (now - headSampleTs) / 1000));
  }

  function sleep(ms: number, idle = false): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(t);
        wakeIdle = wakeAny = undefined;
        resolve();
      };
      const t = setTimeout(done, ms);
      wakeAny = done;
      if (idle) wakeIdle = done;
    });
  }

  /**
   * The cursor file is written at most every 200 ms and not fsynced: a stale
   * cursor after a crash only replays points the store already has, which
   * the stores treat as overwrites. Segments are deleted only behind the
   * cursor that is on disk.
   */
  async function persistCursor(force = false): Promise<void> {
    if (cursorWriting) await cursorWriting;
    if (cursor === persistedCursor || (!force && clock.now() - lastCursorWrite < 200)) return;
    const to = cursor;
    cursorWriting = writeFileDurably(cursorFile, JSON.stringify({ offset: to }), { sync: false });
    try {
      await cursorWriting;
    } finally {
      cursorWriting = undefined;
    }
    persistedCursor = to;
    lastCursorWrite = clock.now();
    await log.truncateBefore(to);
  }

  async function commit(to: number): Promise<void> {
    cursor = to;
    await persistCursor();
    if (wasFull && !isFull()) {
      wasFull = false;
      logger.info({ bytes: bytes() }, 'spool below its bound again; acknowledging QoS1 telemetry');
    }
    if (!isFull()) {
      const ws = spaceWaiters;
      spaceWaiters = [];
      ws.forEach((w) => w());
    }
    drainWaiters = drainWaiters.filter((w) => (w.upTo <= cursor ? (w.resolve(), false) : true));
  }

  /** Writes a batch; when the store refuses points for good, bisects to set aside only those. */
  async function writeIsolating(points: Point[]): Promise<void> {
    try {
      await store.write(points);
    } catch (err) {
      if (!isPermanent(err)) throw err;
      if (points.length === 1) {
        logger.warn({ err, deviceId: points[0]!.deviceId }, 'telemetry store refused a point; set aside as a dead letter');
        deps.onRejected?.(points, err.message);
        return;
      }
      const mid = points.length >> 1;
      await writeIsolating(points.slice(0, mid));
      await writeIsolating(points.slice(mid));
    }
  }

  function dropMemHead(): void {
    const r = mem[memHead++]!;
    memBytes -= r.end - r.start;
    if (memHead > 1024 && memHead * 2 > mem.length) {
      mem = mem.slice(memHead);
      memHead = 0;
    }
  }

  async function drainLoop(): Promise<void> {
    while (running) {
      if (readPos >= log.syncedEnd) {
        headReceivedAt = headSampleTs = null;
        updateGauges();
        if (stopping) return;
        await sleep(1000, true);
        continue;
      }
      // let a partial batch fill up for flushMs (unless stopping, flushing or already large)
      if (!stopping && !flushRequested && log.syncedEnd - readPos < opts.batchSize * 100) await sleep(opts.flushMs);
      flushRequested = false;
      const points: Point[] = [];
      let end = readPos;
      let messages = 0;
      // drop what the cursor already passed (after a disk read overtook memory)
      // and what a failed flush left wrong: records that are not in the log, or are at other offsets (read from disk)
      while (memHead < mem.length && (mem[memHead]!.end <= readPos || mem[memHead]!.failures !== log.failures)) dropMemHead();
      const head = mem[memHead];
      if (head && head.start === readPos) {
        headReceivedAt = head.receivedAt;
        headSampleTs = head.points.reduce((m, p) => Math.min(m, p.ts), Infinity);
        while (memHead < mem.length && points.length < opts.batchSize) {
          const r = mem[memHead]!;
          if (r.start !== end || r.end > log.syncedEnd) break;
          for (const p of r.points) points.push(p);
          end = r.end;
          messages++;
          dropMemHead();
        }
      }
      const records = messages > 0 ? [] : await log.read(readPos, Math.max(64 * 1024, opts.batchSize * 400));
      for (const r of records) {
        if (r.payload.length > 0) {
          const d = decodeRecord(r.payload);
          if (messages === 0) {
            headReceivedAt = d.receivedAt;
            headSampleTs = Math.min(...d.points.map((p) => p.ts));
          }
          for (const p of d.points) points.push(p);
          messages++;
        }
        end = r.end;
        if (points.length >= opts.batchSize) break;
      }
      updateGauges();
      // write until the store takes it: order is kept because nothing after this batch is written first
      for (;;) {
        if (points.length === 0) break;
        const started = performance.now();
        try {
          await writeIsolating(points);
          metrics.pointsWritten.inc(points.length);
          metrics.storeWriteSeconds.observe((performance.now() - started) / 1000);
          if (backoff > 0) logger.info({ lagBytes: log.syncedEnd - end }, 'telemetry store accepts writes again; draining the spool');
          backoff = 0;
          break;
        } catch (err) {
          metrics.storeWriteErrors.inc();
          backoff = Math.min(maxBackoff, backoff === 0 ? minBackoff : backoff * 2);
          if (backoff >= maxBackoff || backoff === minBackoff) logger.warn({ err, spoolBytes: bytes(), retryInMs: backoff }, 'telemetry store write failed; retrying');
          updateGauges();
          if (!running) return;
          await sleep(backoff);
          if (!running) return;
        }
      }
      readPos = end;
      drained += messages;
      await commit(end);
      updateGauges();
      if (points.length > 0) deps.onStored?.(points);
    }
  }

  return {
    async open(): Promise<void> {
      await log.open();
      try {
        const c = JSON.parse(await readFile(cursorFile, 'utf8')) as { offset?: unknown };
        cursor = typeof c.offset === 'number' && c.offset >= 0 ? c.offset : 0;
      } catch {
        cursor = 0;
      }
      // a cursor past the log end means the log lost its tail: drain what is there
      cursor = Math.min(Math.max(cursor, log.start), log.syncedEnd);
      readPos = persistedCursor = cursor;
      if (bytes() > 0) logger.info({ bytes: bytes() }, 'spool holds undrained telemetry from a previous run; replaying');
      running = true;
      loop = drainLoop().catch((err: unknown) => logger.fatal({ err }, 'spool drain loop crashed'));
      updateGauges();
    },

    /** Durable append of one message's samples; resolves after fdatasync. */
    async append(points: readonly Point[], receivedAt: number): Promise<void> {
      appended++;
      const start = log.appendEnd;
      const p = log.append(encodeRecord(points, receivedAt));
      const end = log.appendEnd;
      if (memBytes + (end - start) <= MEM_MAX_BYTES) {
        mem.push({ start, end, receivedAt, points, failures: log.failures });
        memBytes += end - start;
      }
      if (isFull() && !wasFull) {
        wasFull = true;
        logger.warn({ bytes: bytes(), maxBytes: opts.maxBytes }, 'spool reached SPOOL_MAX_BYTES: QoS1 telemetry is not acknowledged until the store drains it');
      }
      try {
        await p;
      } catch (err) {
        // not in the log (no PUBACK: the device sends it again)
        appended--;
        throw err;
      }
      wakeIdle?.();
    },

    isFull,
    /** Resolves when there is room under the bound again. */
    waitForSpace(): Promise<void> {
      if (!isFull()) return Promise.resolve();
      return new Promise((resolve) => spaceWaiters.push(resolve));
    },

    /** Resolves when everything appended so far is in the store, or false on timeout. */
    async flush(timeoutMs = 10_000): Promise<boolean> {
      const upTo = log.appendEnd;
      if (cursor >= upTo) return true;
      flushRequested = true;
      wakeAny?.();
      let t: NodeJS.Timeout | undefined;
      const done = new Promise<boolean>((resolve) => drainWaiters.push({ upTo, resolve: () => resolve(true) }));
      const timeout = new Promise<boolean>((resolve) => (t = setTimeout(() => resolve(false), timeoutMs)));
      const ok = await Promise.race([done, timeout]);
      clearTimeout(t);
      if (ok) await persistCursor(true);
      return ok;
    },

    stats() {
      return { bytes: bytes(), maxBytes: opts.maxBytes, full: isFull(), lagMessages: Math.max(0, appended - drained), headReceivedAt, headSampleTs };
    },

    /** Drains what the store will take within the timeout, then closes. Undrained data stays for the next start. */
    async close(timeoutMs = 10_000): Promise<void> {
      if (!running) return;
      stopping = true;
      const drainedInTime = await this.flush(timeoutMs);
      running = false;
      wakeAny?.();
      await loop;
      await persistCursor(true);
      await log.close();
      spaceWaiters.forEach((w) => w());
      spaceWaiters = [];
      if (!drainedInTime) logger.warn({ bytes: bytes() }, 'telemetry store did not take everything before shutdown; the spool keeps it for the next start');
    },
  };
}

export type Spool = ReturnType<typeof createSpool>;
