/**
 * A type's rule set replaced while devices run (PUT /rules/:type, reloaded
 * without restart), or changed while the service was down: what carries
 * over and what is cleared.
 */
import { describe, expect, it } from 'vitest';
import type { Diagnosis } from '../../core/domain/diagnosis.ts';
import { compileRuleSet } from '../../diagnosis/rules/compile.ts';
import { Engine } from '../../diagnosis/engine.ts';
import { MIN, T0, TYPES, engineWith, feed, iso, remedy, ruleSet, series } from './helpers.ts';

const offline = { id: 'off', fault: 'offline', severity: 'warning', condition: { kind: 'missing', afterMs: 15 * MIN }, remedy, trigger: { k: 1, n: 1, clearAfterWindows: 2 } } as const;
const hot = { id: 'hot', fault: 'hot-oil', severity: 'warning', condition: { kind: 'threshold', metric: 'oilTempC', op: 'above', value: 90 }, remedy, trigger: { k: 1, n: 1, clearAfterWindows: 2 } } as const;
const set = (rules: ReadonlyArray<typeof offline | typeof hot>, description?: string) => ruleSet({ windowMs: MIN, description, rules: rules.map((r) => ({ ...r })) });
const layoutOf = (rules: ReadonlyArray<typeof offline | typeof hot>, description?: string) => compileRuleSet(set(rules, description), TYPES.get('air-compressor')!);

describe('a rule set replaced while devices run', () => {
  it('a device that has gone silent still goes offline: its last sample and pacing carry over, its rules start afresh', () => {
    const e = engineWith(set([offline]));
    // live: three samples a minute apart, then nothing
    const f = feed(e, series('quiet', T0, 3, MIN, () => ({ oilTempC: 70 })), 1000);
    // six minutes later the set is replaced by one that differs only in its description
    e.setLayout('air-compressor', layoutOf([offline], 'reworded'), T0 + 8 * MIN);
    expect(e.states.get('quiet')?.samples).toBe(0);
    e.checkPresence(T0 + 40 * MIN);
    f.intents.push(...e.drainIntents());
    // as of its last arrival, a second after its time
    expect(f.raised()).toEqual([{ fault: 'offline', at: iso(T0 + 2 * MIN + 1000 + 15 * MIN) }]);
    // a sample older than the last one before the change is still out of order
    e.sample(series('quiet', T0 + MIN, 1, MIN, () => ({ oilTempC: 70 }))[0]!, undefined, T0 + 41 * MIN);
    expect(e.late).toBe(1);
  });

  it('a fault no rule names any more is cleared, for a device that has sent since the start and for one that has not', () => {
    const e = engineWith(set([hot, offline]));
    const f = feed(e, series('ac-1', T0, 3, MIN, () => ({ oilTempC: 95 })));
    expect(f.raised()).toEqual([{ fault: 'hot-oil', at: iso(T0 + MIN) }]);
    const d = (f.intents[0] as { diagnosis: Diagnosis }).diagnosis;
    // the service restarts: the active diagnosis comes back from the store; ac-1 has not sent since
    const restarted = new Engine({ liveLagMs: 5 * MIN });
    restarted.restoreActive([d]);
    restarted.setLayout('air-compressor', layoutOf([hot, offline]), T0 + 10 * MIN);
    expect(restarted.drainIntents()).toEqual([]);
    // the rule is removed: the diagnosis clears although ac-1 has no state here
    restarted.setLayout('air-compressor', layoutOf([offline]), T0 + 20 * MIN);
    expect(restarted.drainIntents()).toEqual([{ kind: 'clear', id: d.id, deviceId: 'ac-1', fault: 'hot-oil', at: T0 + 20 * MIN }]);
    // the same when the rule was removed while the service was down: the first rule set it installs clears it
    const later = new Engine({ liveLagMs: 5 * MIN });
    later.restoreActive([d]);
    later.setLayout('air-compressor', layoutOf([offline]), T0 + 30 * MIN);
    expect(later.drainIntents()).toEqual([{ kind: 'clear', id: d.id, deviceId: 'ac-1', fault: 'hot-oil', at: T0 + 30 * MIN }]);
    // another type's rule set leaves it alone
    const other = new Engine({ liveLagMs: 5 * MIN });
    other.restoreActive([d]);
    other.setLayout('refrigerator', null, T0 + 30 * MIN);
    expect(other.drainIntents()).toEqual([]);
  });

  it('a fault its rules still name stays active across the change and clears when they find it normal', () => {
    const e = engineWith(set([hot, offline]));
    const f = feed(e, series('ac-1', T0, 3, MIN, () => ({ oilTempC: 95 })));
    e.setLayout('air-compressor', layoutOf([hot, offline], 'reworded'), T0 + 10 * MIN);
    expect(e.drainIntents()).toEqual([]);
    feed(e, series('ac-1', T0 + 3 * MIN, 6, MIN, () => ({ oilTempC: 95 })), undefined, f);
    expect(f.raised()).toHaveLength(1);
    feed(e, series('ac-1', T0 + 9 * MIN, 5, MIN, () => ({ oilTempC: 70 })), undefined, f);
    expect(f.cleared()).toEqual([{ fault: 'hot-oil', at: iso(T0 + 11 * MIN) }]);
  });

  it('a sensor missing at the change is still missing after it: its diagnosis stays', () => {
    const missingVib = { id: 'vib', fault: 'no-vibration', severity: 'warning', condition: { kind: 'missing', metric: 'vibrationRmsMmS', afterMs: 5 * MIN }, remedy, trigger: { k: 2, n: 3, clearAfterWindows: 2 } } as const;
    const rs = (description?: string) => ruleSet({ windowMs: MIN, description, rules: [missingVib] });
    const e = engineWith(rs());
    // vibration for three minutes, then samples without it
    const f = feed(e, series('d', T0, 15, MIN, (i): Record<string, number> => (i < 3 ? { oilTempC: 70, vibrationRmsMmS: 2 } : { oilTempC: 70 })));
    expect(f.raised()).toEqual([{ fault: 'no-vibration', at: iso(T0 + 10 * MIN) }]);
    e.setLayout('air-compressor', compileRuleSet(rs('reworded'), TYPES.get('air-compressor')!), T0 + 15 * MIN);
    feed(e, series('d', T0 + 15 * MIN, 30, MIN, () => ({ oilTempC: 70 })), undefined, f);
    expect(f.cleared()).toEqual([]);
    // and it clears once the sensor is back
    feed(e, series('d', T0 + 45 * MIN, 5, MIN, () => ({ oilTempC: 70, vibrationRmsMmS: 2 })), undefined, f);
    expect(f.cleared()).toHaveLength(1);
  });

  it('a type left without rules clears its replayed devices’ diagnoses as of their last sample, not the wall clock', () => {
    const e = engineWith(set([hot, offline]));
    // replayed: event time a year before the wall clock
    const f = feed(e, series('ac-1', T0, 3, MIN, () => ({ oilTempC: 95 })));
    expect(f.raised()).toHaveLength(1);
    e.setLayout('air-compressor', null, T0 + 365 * 24 * 60 * MIN);
    expect(e.drainIntents()).toEqual([expect.objectContaining({ kind: 'clear', fault: 'hot-oil', at: T0 + 2 * MIN })]);
    expect(e.states.has('ac-1')).toBe(false);
  });
});
