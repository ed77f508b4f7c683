import { appendFile, mkdir, mkdtemp, readdir, rm, stat, truncate } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { afterEach, describe, expect, it } from 'vitest';
import { systemClock } from '../../core/clock.ts';
import { errors } from '../../core/errors.ts';
import type { Point } from '../../core/domain/telemetry.ts';
import { nullLogger } from '../../core/logger.ts';
import { createMetrics } from '../../core/metrics.ts';
import type { TelemetryStore } from '../../core/ports.ts';
import { SegmentLog } from '../../ingest/spool/segment-log.ts';
import { createSpool, type SpoolOptions } from '../../ingest/spool/spool.ts';

const dirs: string[] = [];
async function tempDir(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'fleetdoc-spool-'));
  dirs.push(d);
  return d;
}
afterEach(async () => {
  await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })));
});

/** A store that records writes and can be switched off like a crashed server. */
function recordingStore() {
  const written: Point[] = [];
  let down = false;
  const store: TelemetryStore = {
    kind: 'embedded',
    init: async () => undefined,
    write: async (points) => {
      if (down) throw new Error('ECONNREFUSED');
      written.push(...points);
    },
    query: async () => [],
    latest: async () => null,
    ping: async () => !down,
    close: async () => undefined,
  };
  return { store, written, setDown: (v: boolean) => (down = v) };
}

const point = (i: number, deviceId = 'd1'): Point => ({ deviceId, type: 't', model: null, site: null, ts: 1_700_000_000_000 + i, seq: i, metrics: { v: i, ok: i % 2 === 0 } });

function open(dir: string, store: TelemetryStore, over: Partial<SpoolOptions> = {}) {
  const spool = createSpool(
    { store, logger: nullLogger(), metrics: createMetrics(), clock: systemClock },
    { dir, maxBytes: 10 * 1024 * 1024, segmentBytes: 64 * 1024, batchSize: 500, flushMs: 5, minBackoffMs: 10, maxBackoffMs: 50, ...over },
  );
  return spool;
}

describe('segment log', () => {
  it('group-commits concurrent appends and reads them back in order across segments', async () => {
    const dir = await tempDir();
    const log = new SegmentLog(dir, { segmentBytes: 4096, logger: nullLogger() });
    await log.open();
    // 20 groups of 100 concurrent appends; segments rotate between groups
    for (let g = 0; g < 20; g++) await Promise.all(Array.from({ length: 100 }, (_, i) => log.append(Buffer.from(`record-${g * 100 + i}`))));
    expect((await readdir(dir)).filter((f) => f.endsWith('.seg')).length).toBeGreaterThan(3);
    const got: string[] = [];
    let pos = 0;
    while (pos < log.syncedEnd) {
      const recs = await log.read(pos, 1000);
      for (const r of recs) got.push(r.payload.toString());
      pos = recs.at(-1)!.end;
    }
    expect(got).toEqual(Array.from({ length: 2000 }, (_, i) => `record-${i}`));
    await log.truncateBefore(pos);
    expect((await readdir(dir)).filter((f) => f.endsWith('.seg'))).toHaveLength(1);
    await log.close();
  });

  it('skips a torn tail record after a crash with a clean reopen', async () => {
    const dir = await tempDir();
    const log = new SegmentLog(dir, { segmentBytes: 1 << 20, logger: nullLogger() });
    await log.open();
    for (let i = 0; i < 10; i++) await log.append(Buffer.from(`r${i}`));
    const goodEnd = log.syncedEnd;
    await log.close();
    const seg = join(dir, (await readdir(dir)).find((f) => f.endsWith('.seg'))!);
    // a crash mid-write: a header announcing 100 bytes followed by only 3
    const torn = Buffer.alloc(11);
    torn.writeUInt32LE(100, 0);
    torn.writeUInt32LE(0xdeadbeef, 4);
    await appendFile(seg, torn);

    const again = new SegmentLog(dir, { segmentBytes: 1 << 20, logger: nullLogger() });
    await again.open();
    expect(again.syncedEnd).toBe(goodEnd);
    expect((await stat(seg)).size).toBe(goodEnd);
    await again.append(Buffer.from('after-crash'));
    const recs = await again.read(0, 1 << 20);
    expect(recs.map((r) => r.payload.toString())).toEqual([...Array.from({ length: 10 }, (_, i) => `r${i}`), 'after-crash']);
    await again.close();
  });

  it('drops a tail record whose checksum does not match', async () => {
    const dir = await tempDir();
    const log = new SegmentLog(dir, { segmentBytes: 1 << 20, logger: nullLogger() });
    await log.open();
    await log.append(Buffer.from('good'));
    const goodEnd = log.syncedEnd;
    await log.append(Buffer.from('will-be-damaged'));
    await log.close();
    const seg = join(dir, (await readdir(dir)).find((f) => f.endsWith('.seg'))!);
    await truncate(seg, (await stat(seg)).size - 1);
    await appendFile(seg, Buffer.from('X'));
    const again = new SegmentLog(dir, { segmentBytes: 1 << 20, logger: nullLogger() });
    await again.open();
    expect(again.syncedEnd).toBe(goodEnd);
    expect((await again.read(0, 1000)).map((r) => r.payload.toString())).toEqual(['good']);
    await again.close();
  });
});

describe('spool', () => {
  it('drains appended samples to the store in order and deletes drained segments', async () => {
    const dir = await tempDir();
    const s = recordingStore();
    const spool = open(dir, s.store);
    await spool.open();
    for (let g = 0; g < 30; g++) await Promise.all(Array.from({ length: 100 }, (_, i) => spool.append([point(g * 100 + i)], Date.now())));
    expect(await spool.flush(5000)).toBe(true);
    expect(s.written.map((p) => p.seq)).toEqual(Array.from({ length: 3000 }, (_, i) => i));
    expect(s.written[1]).toEqual(point(1));
    expect(spool.stats().bytes).toBe(0);
    expect((await readdir(dir)).filter((f) => f.endsWith('.seg'))).toHaveLength(1);
    await spool.close();
  });

  it('keeps everything while the store is down, then drains in order', async () => {
    const dir = await tempDir();
    const s = recordingStore();
    s.setDown(true);
    const spool = open(dir, s.store);
    await spool.open();
    for (let i = 0; i < 1000; i++) await spool.append([point(i)], Date.now());
    expect(await spool.flush(200)).toBe(false);
    expect(s.written).toHaveLength(0);
    expect(spool.stats().bytes).toBeGreaterThan(0);
    expect(spool.stats().lagMessages).toBe(1000);
    s.setDown(false);
    expect(await spool.flush(5000)).toBe(true);
    expect(s.written.map((p) => p.seq)).toEqual(Array.from({ length: 1000 }, (_, i) => i));
    await spool.close();
  });

  it('replays undrained samples after a restart, including those never drained before close', async () => {
    const dir = await tempDir();
    const s = recordingStore();
    s.setDown(true);
    const first = open(dir, s.store);
    await first.open();
    for (let i = 0; i < 500; i++) await first.append([point(i)], Date.now());
    await first.close(100);
    s.setDown(false);
    const second = open(dir, s.store);
    await second.open();
    expect(await second.flush(5000)).toBe(true);
    expect(s.written.map((p) => p.seq)).toEqual(Array.from({ length: 500 }, (_, i) => i));
    await second.close();
  });

  it('sets aside only the points the store refuses for good, and goes on', async () => {
    const dir = await tempDir();
    const written: Point[] = [];
    const rejected: Point[] = [];
    const store: TelemetryStore = {
      ...recordingStore().store,
      write: async (points) => {
        if (points.some((p) => p.seq === 13 || p.seq === 77)) throw errors.validation('field type conflict');
        written.push(...points);
      },
    };
    const spool = createSpool(
      { store, logger: nullLogger(), metrics: createMetrics(), clock: systemClock, onRejected: (pts) => rejected.push(...pts) },
      { dir, maxBytes: 1 << 20, segmentBytes: 1 << 20, batchSize: 500, flushMs: 5 },
    );
    await spool.open();
    await Promise.all(Array.from({ length: 100 }, (_, i) => spool.append([point(i)], Date.now())));
    expect(await spool.flush(5000)).toBe(true);
    expect(rejected.map((p) => p.seq)).toEqual([13, 77]);
    expect(written.map((p) => p.seq).sort((a, b) => a! - b!)).toEqual(Array.from({ length: 100 }, (_, i) => i).filter((i) => i !== 13 && i !== 77));
    await spool.close();
  });

  it('reports full at the bound and frees space when the store drains', async () => {
    const dir = await tempDir();
    const s = recordingStore();
    s.setDown(true);
    const spool = open(dir, s.store, { maxBytes: 20_000, segmentBytes: 4096 });
    await spool.open();
    let i = 0;
    while (!spool.isFull()) await spool.append([point(i++)], Date.now());
    expect(spool.stats().full).toBe(true);
    let freed = false;
    const wait = spool.waitForSpace().then(() => (freed = true));
    await new Promise((r) => setTimeout(r, 100));
    expect(freed).toBe(false);
    s.setDown(false);
    await wait;
    expect(freed).toBe(true);
    expect(await spool.flush(5000)).toBe(true);
    expect(s.written).toHaveLength(i);
    await spool.close();
  });
});

describe('a full disk', () => {
  it('an append the disk refuses (ENOSPC) is neither stored nor counted; every acknowledged one is, in order', async () => {
    // a real filesystem that fills: a 256 KiB tmpfs (the harness runs as root), partly taken by a file freed later
    const dir = join(await tempDir(), 'fs');
    await mkdir(dir);
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=256k', 'tmpfs', dir]);
    const s = recordingStore();
    s.setDown(true);
    const spool = open(dir, s.store, { segmentBytes: 1024 * 1024 });
    try {
      await appendFile(join(dir, 'filler'), Buffer.alloc(160 * 1024));
      await spool.open();
      const acked: number[] = [];
      let refused = 0;
      const big = (i: number): Point => ({ ...point(i), metrics: { v: i, note: 'x'.repeat(200) } });
      for (let i = 0; i < 2000 && refused < 3; i++) {
        try {
          await spool.append([big(i)], Date.now());
          acked.push(i);
        } catch {
          refused++;
        }
      }
      expect(refused).toBe(3);
      // room again: the next ones are acknowledged
      await rm(join(dir, 'filler'));
      const from = acked.length + refused;
      for (let i = from; i < from + 30; i++) {
        await spool.append([big(i)], Date.now());
        acked.push(i);
      }
      s.setDown(false);
      expect(await spool.flush(10_000)).toBe(true);
      expect(s.written.map((p) => p.seq)).toEqual(acked);
      expect(spool.stats().lagMessages).toBe(0);
    } finally {
      await spool.close().catch(() => undefined);
      execFileSync('umount', [dir]);
    }
  });
});
