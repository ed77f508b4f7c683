import type { Point } from '../../core/domain/telemetry.ts';

/**
 * One spool record = the accepted samples of one message. Compact JSON:
 * {"r": receivedAt, "d": deviceId, "t": type, "m": model, "s": site,
 *  "p": [[ts, seq|null, metrics], …]}
 */
interface Encoded {
  r: number;
  d: string;
  t: string;
  m: string | null;
  s: string | null;
  p: Array<[number, number | null, Point['metrics']]>;
}

export function encodeRecord(points: readonly Point[], receivedAt: number): Buffer {
  const first = points[0]!;
  const e: Encoded = {
    r: receivedAt,
    d: first.deviceId,
    t: first.type,
    m: first.model,
    s: first.site,
    p: points.map((p) => [p.ts, p.seq ?? null, p.metrics]),
  };
  return Buffer.from(JSON.stringify(e));
}

export function decodeRecord(buf: Buffer): { receivedAt: number; points: Point[] } {
  const e = JSON.parse(buf.toString('utf8')) as Encoded;
  return {
    receivedAt: e.r,
    points: e.p.map(([ts, seq, metrics]) => ({ deviceId: e.d, type: e.t, model: e.m, site: e.s, ts, ...(seq === null ? {} : { seq }), metrics })),
  };
}
