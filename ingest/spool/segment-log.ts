import { mkdir, open, readdir, rename, rm, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import type { Logger } from '../../core/logger.ts';

/**
 * An append-only log of length-prefixed, checksummed records in segment
 * files, with group commit: every append waiting while a write+fdatasync is
 * in flight goes into the next single write+fdatasync, so thousands of
 * records share one sync and the sync runs off the event loop.
 *
 * Record: u32 LE payload length | u32 LE crc32(payload) | payload.
 * Positions are absolute byte offsets; a segment file is named by the
 * offset of its first byte, so "bytes not yet drained" is end − cursor.
 */
const HEADER = 8;
const SEGMENT_RE = /^(\d{20})\.seg$/;
/** A record larger than this is treated as corruption (nothing we write is). */
const MAX_RECORD = 64 * 1024 * 1024;

export interface LogRecord {
  payload: Buffer;
  /** Absolute offset just past this record. */
  end: number;
}

const segName = (start: number) => `${String(start).padStart(20, '0')}.seg`;

export class SegmentLog {
  readonly #dir: string;
  readonly #segmentBytes: number;
  readonly #logger: Logger;
  /** Start offsets of existing segments, ascending. */
  #segments: number[] = [];
  #fh: FileHandle | undefined;
  #failures = 0;
  #segStart = 0;
  /** Absolute offset of the durable end (everything before it is fsynced). */
  #syncedEnd = 0;
  /** Absolute offset after everything appended (durable or pending). */
  #appendEnd = 0;
  #pending: Buffer[] = [];
  #waiters: Array<{ resolve: () => void; reject: (e: unknown) => void }> = [];
  #flushing = false;
  #closed = false;
  #readFh: { start: number; fh: FileHandle } | undefined;

  constructor(dir: string, opts: { segmentBytes: number; logger: Logger }) {
    this.#dir = dir;
    this.#segmentBytes = opts.segmentBytes;
    this.#logger = opts.logger;
  }

  /**
   * How many flushes have failed (ENOSPC, EIO). At each, the offsets handed out since the last durable end are
   * given again: the failed records are not in the log, and those appended meanwhile move down to fill their place.
   */
  get failures(): number {
    return this.#failures;
  }

  get syncedEnd(): number {
    return this.#syncedEnd;
  }

  get appendEnd(): number {
    return this.#appendEnd;
  }

  /** Oldest retained offset (start of the first segment). */
  get start(): number {
    return this.#segments[0] ?? this.#segStart;
  }

  /**
   * Opens the log, dropping a torn tail (a record cut short or failing its
   * checksum after a crash) from the last segment with a log line.
   */
  async open(): Promise<void> {
    await mkdir(this.#dir, { recursive: true });
    this.#segments = (await readdir(this.#dir))
      .map((f) => SEGMENT_RE.exec(f)?.[1])
      .filter((s): s is string => s !== undefined)
      .map(Number)
      .sort((a, b) => a - b);
    if (this.#segments.length === 0) {
      await this.#newSegment(0);
      this.#syncedEnd = this.#appendEnd = 0;
      return;
    }
    const last = this.#segments[this.#segments.length - 1]!;
    const fh = await open(join(this.#dir, segName(last)), 'r+');
    const { size } = await fh.stat();
    const validLen = await scanValidLength(fh, size);
    if (validLen < size) {
      this.#logger.warn({ segment: segName(last), size, validLen, droppedBytes: size - validLen }, 'spool: torn tail record after a crash; skipped');
      await fh.truncate(validLen);
      await fh.datasync();
    }
    this.#fh = fh;
    this.#segStart = last;
    this.#syncedEnd = this.#appendEnd = last + validLen;
  }

  /** Appends a record; resolves once it is on disk (fdatasync). */
  append(payload: Buffer): Promise<void> {
    if (this.#closed) return Promise.reject(new Error('spool closed'));
    const header = Buffer.allocUnsafe(HEADER);
    header.writeUInt32LE(payload.length, 0);
    header.writeUInt32LE(crc32(payload), 4);
    this.#pending.push(header, payload);
    this.#appendEnd += HEADER + payload.length;
    return new Promise<void>((resolve, reject) => {
      this.#waiters.push({ resolve, reject });
      if (!this.#flushing) void this.#flushLoop();
    });
  }

  async #flushLoop(): Promise<void> {
    this.#flushing = true;
    try {
      while (this.#pending.length > 0) {
        const bufs = this.#pending;
        const waiters = this.#waiters;
        this.#pending = [];
        this.#waiters = [];
        try {
          if (this.#syncedEnd - this.#segStart >= this.#segmentBytes) await this.#newSegment(this.#syncedEnd);
          const data = bufs.length === 1 ? bufs[0]! : Buffer.concat(bufs);
          let written = 0;
          while (written < data.length) {
            const { bytesWritten } = await this.#fh!.write(data, written, data.length - written, this.#syncedEnd - this.#segStart + written);
            written += bytesWritten;
          }
          await this.#fh!.datasync();
          this.#syncedEnd += data.length;
          for (const w of waiters) w.resolve();
        } catch (err) {
          this.#failures++;
          this.#logger.error({ err }, 'spool: append failed');
          // the bytes may be on disk, whole if only the fsync failed: cut them off, so that a crash before the next
          // write cannot leave a record that was never acknowledged (a torn part would be dropped at open() anyway)
          await this.#fh?.truncate(this.#syncedEnd - this.#segStart).catch(() => undefined);
          this.#appendEnd = this.#syncedEnd + this.#pending.reduce((n, b) => n + b.length, 0);
          for (const w of waiters) w.reject(err);
        }
      }
    } finally {
      this.#flushing = false;
    }
  }

  async #newSegment(start: number): Promise<void> {
    await this.#fh?.close();
    this.#fh = await open(join(this.#dir, segName(start)), 'w+');
    this.#segStart = start;
    if (!this.#segments.includes(start)) this.#segments.push(start);
    // make the new directory entry durable too
    const dir = await open(this.#dir, 'r');
    try {
      await dir.sync();
    } finally {
      await dir.close();
    }
  }

  /**
   * Reads durable records from `from` (a record boundary) up to about
   * `maxBytes`; stops at the synced end. Unreadable data in a segment (disk
   * corruption) is skipped to the next segment with an error log, returned
   * as an empty record so the caller's cursor moves past it.
   */
  async read(from: number, maxBytes: number): Promise<LogRecord[]> {
    const pos = Math.max(from, this.start);
    if (pos >= this.#syncedEnd) return [];
    const segIdx = this.#segmentIndexFor(pos);
    if (segIdx < 0) return [];
    const segStart = this.#segments[segIdx]!;
    const segEnd = segIdx + 1 < this.#segments.length ? this.#segments[segIdx + 1]! : this.#syncedEnd;
    if (pos >= segEnd) return [{ payload: Buffer.alloc(0), end: segEnd }];
    const fh = await this.#reader(segStart);
    let want = Math.min(segEnd - pos, Math.max(maxBytes, HEADER));
    let buf = Buffer.allocUnsafe(want);
    await readFully(fh, buf, pos - segStart);
    let parsed = parseRecords(buf, pos);
    if (parsed.records.length === 0 && parsed.problem === 'incomplete' && parsed.needed !== undefined && pos + parsed.needed <= segEnd) {
      // one record larger than the read budget: read exactly it
      want = parsed.needed;
      buf = Buffer.allocUnsafe(want);
      await readFully(fh, buf, pos - segStart);
      parsed = parseRecords(buf, pos);
    }
    const bad = parsed.problem === 'length' || parsed.problem === 'checksum' || (parsed.problem === 'incomplete' && parsed.records.length === 0);
    if (bad && parsed.records.length === 0) {
      this.#logger.error({ segment: segName(segStart), at: pos, problem: parsed.problem }, 'spool: unreadable record; skipping to the next segment');
      return [{ payload: Buffer.alloc(0), end: segEnd }];
    }
    return parsed.records;
  }

  #segmentIndexFor(pos: number): number {
    for (let i = this.#segments.length - 1; i >= 0; i--) if (this.#segments[i]! <= pos) return i;
    return -1;
  }

  async #reader(segStart: number): Promise<FileHandle> {
    if (this.#readFh?.start === segStart) return this.#readFh.fh;
    await this.#readFh?.fh.close();
    const fh = await open(join(this.#dir, segName(segStart)), 'r');
    this.#readFh = { start: segStart, fh };
    return fh;
  }

  /** Deletes segments that lie entirely before `offset`. */
  async truncateBefore(offset: number): Promise<void> {
    while (this.#segments.length > 1 && this.#segments[1]! <= offset) {
      const start = this.#segments.shift()!;
      if (this.#readFh?.start === start) {
        await this.#readFh.fh.close();
        this.#readFh = undefined;
      }
      await rm(join(this.#dir, segName(start)), { force: true });
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    while (this.#flushing || this.#pending.length > 0) await new Promise((r) => setTimeout(r, 5));
    await this.#fh?.close();
    await this.#readFh?.fh.close();
  }
}

interface Parsed {
  records: LogRecord[];
  /** Why parsing stopped before the end of the buffer, if it did. */
  problem?: 'length' | 'checksum' | 'incomplete';
  /** Bytes the next record needs, when incomplete. */
  needed?: number;
}

/** Parses whole records from a buffer that starts at absolute offset `base`. */
function parseRecords(buf: Buffer, base: number): Parsed {
  const records: LogRecord[] = [];
  let off = 0;
  while (off < buf.length) {
    if (off + HEADER > buf.length) return { records, problem: 'incomplete', needed: HEADER };
    const len = buf.readUInt32LE(off);
    if (len > MAX_RECORD) return { records, problem: 'length' };
    if (off + HEADER + len > buf.length) return { records, problem: 'incomplete', needed: HEADER + len };
    const payload = buf.subarray(off + HEADER, off + HEADER + len);
    if (crc32(payload) !== buf.readUInt32LE(off + 4)) return { records, problem: 'checksum' };
    off += HEADER + len;
    records.push({ payload, end: base + off });
  }
  return { records };
}

async function readFully(fh: FileHandle, buf: Buffer, position: number): Promise<void> {
  let got = 0;
  while (got < buf.length) {
    const { bytesRead } = await fh.read(buf, got, buf.length - got, position + got);
    if (bytesRead === 0) throw new Error('spool: unexpected end of segment');
    got += bytesRead;
  }
}

/** Length of the valid record prefix of a segment file (chunked scan). */
async function scanValidLength(fh: FileHandle, size: number): Promise<number> {
  const CHUNK = 4 * 1024 * 1024;
  let pos = 0;
  while (pos < size) {
    const want = Math.min(CHUNK, size - pos);
    let buf = Buffer.allocUnsafe(want);
    await readFully(fh, buf, pos);
    let parsed = parseRecords(buf, pos);
    if (parsed.records.length === 0 && parsed.problem === 'incomplete' && parsed.needed !== undefined && pos + parsed.needed <= size && parsed.needed > want) {
      buf = Buffer.allocUnsafe(parsed.needed);
      await readFully(fh, buf, pos);
      parsed = parseRecords(buf, pos);
    }
    const last = parsed.records.at(-1);
    if (!last) return pos;
    const end = last.end;
    if (parsed.problem && (parsed.problem !== 'incomplete' || pos + want >= size)) return end;
    pos = end;
  }
  return pos;
}

/** Writes a small file atomically (tmp + rename), fsynced unless `sync: false`. */
export async function writeFileDurably(path: string, data: string, opts: { sync?: boolean } = {}): Promise<void> {
  const tmp = `${path}.tmp`;
  const fh = await open(tmp, 'w');
  try {
    await fh.writeFile(data);
    if (opts.sync !== false) await fh.sync();
  } finally {
    await fh.close();
  }
  await rename(tmp, path);
}
