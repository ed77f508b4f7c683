/**
 * A checkpoint taken by an earlier state format resumes into this one under the same rules: format 2 (before the
 * clock-lag slots) is moved to format 3 instead of refused, so an upgrade does not restart every device's learning.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { F64 } from '../../diagnosis/rules/compile.ts';
import { loadShippedRuleSets } from '../../diagnosis/rules/shipped.ts';
import { FLAG_CLOCK_LAG, FLAG_LIVE, FLAG_RESTORED } from '../../diagnosis/windows/device-state.ts';
import { MIN, T0, engineWith, point } from './helpers.ts';

describe('checkpoints of earlier state formats', () => {
  it('a checkpoint of the previous state format (2, before the clock-lag slots) resumes under the same rules', () => {
    // taken by the engine of c63f062: an air compressor fed 3 days of minute samples under the shipped rules, a second after their time
    const old = JSON.parse(readFileSync(new URL('./fixtures/checkpoint-format2.json', import.meta.url), 'utf8')) as { key: string; state: string };
    const shipped = loadShippedRuleSets().get('air-compressor')!;
    const restored = engineWith(shipped);
    expect(restored.restore('ac-old', 'air-compressor', old.key, new Uint8Array(Buffer.from(old.state, 'base64')))).toBe(true);
    // the same samples fed to this engine: the same state but for the clock-lag slots and flag
    const fed = engineWith(shipped);
    for (let i = 0; i < 3 * 24 * 60; i++) {
      const ts = T0 + i * MIN;
      const loaded = i % 7 < 4;
      const metrics = { loaded, motorCurrentA: loaded ? 50 + (i % 5) : 20, oilTempC: 75 + (i % 11) / 10, dischargeTempC: 90 + (i % 13) / 10, ambientTempC: 22 + Math.sin(i / 300), dischargePressureBar: 7 + (i % 9) / 20, vibrationRmsMmS: 2 + (i % 3) / 10, airFilterDpMbar: 20 + (i % 4), separatorDpBar: 0.3, loadedHours: i / 100 };
      fed.sample(point('ac-old', ts, metrics), undefined, ts + 1000);
    }
    const a = restored.states.get('ac-old')!;
    const b = fed.states.get('ac-old')!;
    b.f64[F64.clockLag] = NaN;
    b.f64[F64.clockSince] = NaN;
    const flags = b.layout.u8.flags;
    b.u8[flags] = b.u8[flags]! & ~FLAG_CLOCK_LAG;
    // restored: pacing starts afresh, and it waits for its first sample (FLAG_RESTORED)
    b.f64[F64.lastWall] = NaN;
    b.f64[F64.wallGap] = NaN;
    b.u8[flags] = (b.u8[flags]! & ~FLAG_LIVE) | FLAG_RESTORED;
    expect(Buffer.from(a.toBytes()).equals(Buffer.from(b.toBytes()))).toBe(true);
  });

});
