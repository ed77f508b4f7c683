import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { expect } from 'vitest';
import { gunzipSync } from 'node:zlib';
import type { MetricValue } from '../../../core/domain/telemetry.ts';
import type { ScoreInput } from '../../../diagnosis/model/types.ts';

export const FIXTURES = new URL('./fixtures/', import.meta.url);
const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

/** Runs Python lines from the repository root with ml/ importable (json, sys and numpy as np imported); the last prints JSON, returned parsed. */
export function python(lines: string[]): unknown {
  const script = ['import json, sys, numpy as np', "sys.path.insert(0, 'ml')", ...lines].join('\n');
  const r = spawnSync('python3', ['-c', script], { cwd: ROOT, encoding: 'utf8' });
  expect(r.status, r.stderr).toBe(0);
  return JSON.parse(r.stdout);
}

export interface LabelledSample extends ScoreInput {
  /** 1: the device's fault is well developed; 0: before any fault; null: early stage, not judged. */
  label: 0 | 1 | null;
  /** The device's fault ('' for a fault-free device). */
  fault: string;
}

/** The held-back simulated devices ml/train_shipped.py wrote (deviceId, ts, label, fault, metrics…). */
export function readBenchmark(file = 'benchmark-air-compressor.csv.gz', type = 'air-compressor'): LabelledSample[] {
  const [head, ...lines] = gunzipSync(readFileSync(new URL(file, FIXTURES))).toString('utf8').trim().split('\n');
  const cols = (head as string).split(',');
  return lines.map((line) => {
    const v = line.split(',');
    const metrics: Record<string, MetricValue> = {};
    for (let c = 4; c < cols.length; c++) {
      const s = v[c] ?? '';
      if (s === '') continue;
      metrics[cols[c] as string] = s === 'true' ? true : s === 'false' ? false : Number(s);
    }
    return { deviceId: v[0] as string, type, ts: Number(v[1]), label: v[2] === '1' ? 1 : v[2] === '0' ? 0 : null, fault: v[3] ?? '', metrics };
  });
}

/** Interleaves per-device streams round-robin, as a fleet's samples arrive. */
export function interleave<T extends { deviceId: string }>(samples: readonly T[]): T[] {
  const by = new Map<string, T[]>();
  for (const s of samples) (by.get(s.deviceId) ?? by.set(s.deviceId, []).get(s.deviceId))?.push(s);
  const queues = [...by.values()];
  const out: T[] = [];
  for (let i = 0; out.length < samples.length; i++) for (const q of queues) if (i < q.length) out.push(q[i] as T);
  return out;
}

export function chunks<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}
