import { describe, expect, it } from 'vitest';
import { FAULTS, faultDef } from '../../simulator/faults/catalogue.ts';
import { DAY, HOUR } from '../../simulator/time.ts';
import { mean, oneDevice, run, START } from './helpers.ts';

const WALL = Date.parse('2030-01-01T00:00:00Z');
const LATER = new Date(WALL + 60_000).toISOString();

function setup(type: string) {
  const durationMs = type === 'washing-machine' ? 30 * DAY : 10 * DAY;
  const intervalMs = type === 'washing-machine' ? undefined : { [type]: 120_000 };
  return { durationMs, intervalMs, onsetTs: START + durationMs * 0.1, failureTs: START + durationMs * 0.5, fixTs: START + durationMs * 0.6 };
}

describe('remedies', () => {
  const commandFaults = FAULTS.filter((f) => f.remedyClass === 'command');
  it.each(commandFaults.map((f) => [f.code, f] as const))('%s disappears from later telemetry when — and only when — its command is applied', (_c, f) => {
    const { durationMs, intervalMs, onsetTs, failureTs, fixTs } = setup(f.deviceType);
    const plan = [{ code: f.code, onsetTs, failureTs }];
    const fixed = oneDevice(f.deviceType, plan, { durationMs, intervalMs });
    const untreated = oneDevice(f.deviceType, plan, { durationMs, intervalMs });
    const twin = oneDevice(f.deviceType, [], { durationMs, intervalMs });
    const a = run(fixed, fixTs);
    // the wrong remedies first: other known commands, the owner, an unknown command, an expired one
    const others = fixed.knows('purge-condensate') ? ['purge-condensate'] : fixed.knows('drum-clean') ? ['drum-clean'] : [];
    for (const name of others) expect(fixed.command(name, LATER, WALL)).toMatchObject({ status: 'done', fixed: [] });
    expect(fixed.remedy(f.code, 'owner')).toBeNull();
    expect(fixed.command('no-such-command', LATER, WALL)).toMatchObject({ status: 'failed' });
    expect(fixed.command(f.command!, new Date(WALL - 1000).toISOString(), WALL)).toMatchObject({ status: 'ignored' });
    expect(fixed.faults[0]!.fixedTs).toBeNull();
    const ok = fixed.command(f.command!, LATER, WALL);
    expect(ok.status).toBe('done');
    expect(ok.status === 'done' && ok.fixed.map((x) => x.code)).toEqual([f.code]);
    expect(fixed.faults[0]!.fixedTs).toBe(fixed.lastTs);
    const rest = run(fixed);
    const u = run(untreated);
    const t = run(twin);
    const settle = fixTs + 2 * DAY;
    for (const m of f.affectedMetrics) {
      const after = Math.abs(mean(rest, m.metric, settle, START + durationMs) - mean(t, m.metric, settle, START + durationMs));
      const untreatedDiff = Math.abs(mean(u, m.metric, settle, START + durationMs) - mean(t, m.metric, settle, START + durationMs));
      expect(after, `${m.metric}: fixed device back near its twin`).toBeLessThan(untreatedDiff * 0.35);
    }
    expect(a.ts.length).toBeGreaterThan(0);
  });

  it('a command fixes exactly the faults it remedies, not another fault on the same device', () => {
    const { durationMs, intervalMs, onsetTs, failureTs, fixTs } = setup('air-compressor');
    const d = oneDevice('air-compressor', [
      { code: 'ac-inlet-valve-sticking', onsetTs, failureTs },
      { code: 'ac-air-filter-clog', onsetTs, failureTs },
    ], { durationMs, intervalMs });
    run(d, fixTs);
    const r = d.command('exercise-inlet-valve', LATER, WALL);
    expect(r.status === 'done' && r.fixed.map((x) => x.code)).toEqual(['ac-inlet-valve-sticking']);
    expect(d.faults.find((x) => x.code === 'ac-air-filter-clog')!.fixedTs).toBeNull();
    // the owner cleans the filter: now that one is gone too, and a technician-class fault is not the owner's to fix
    expect(d.remedy('ac-air-filter-clog', 'owner')?.fixedBy).toBe('owner');
    const s = run(d);
    const twin = run(oneDevice('air-compressor', [], { durationMs, intervalMs }));
    const settle = fixTs + DAY;
    const end = START + durationMs;
    expect(Math.abs(mean(s, 'airFilterDpMbar', settle, end) - mean(twin, 'airFilterDpMbar', settle, end))).toBeLessThan(1);
  });

  it('a command sent before the fault has begun does not prevent it', () => {
    const { durationMs, intervalMs, onsetTs, failureTs } = setup('refrigerator');
    const d = oneDevice('refrigerator', [{ code: 'rf-defrost-timer-stuck', onsetTs, failureTs }], { durationMs, intervalMs });
    run(d, onsetTs - HOUR);
    const r = d.command('defrost', LATER, WALL);
    expect(r.status === 'done' && r.fixed).toEqual([]);
    expect(d.faults[0]!.fixedTs).toBeNull();
  });

  it('owner remedies fix owner faults; technician-class faults need a technician', () => {
    for (const f of FAULTS.filter((x) => x.remedyClass !== 'command')) {
      const { durationMs, intervalMs, onsetTs, failureTs } = setup(f.deviceType);
      const d = oneDevice(f.deviceType, [{ code: f.code, onsetTs, failureTs }], { durationMs, intervalMs });
      run(d, onsetTs + HOUR);
      const byOwner = d.remedy(f.code, 'owner');
      if (faultDef(f.code).remedyClass === 'owner') expect(byOwner?.fixedBy, f.code).toBe('owner');
      else {
        expect(byOwner, f.code).toBeNull();
        expect(d.remedy(f.code, 'technician')?.fixedBy, f.code).toBe('technician');
      }
    }
  });
});
