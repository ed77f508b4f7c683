import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createFleet, type FleetOptions } from '../../simulator/fleet.ts';
import { DAY } from '../../simulator/time.ts';
import { START } from './helpers.ts';

const opts: FleetOptions = {
  seed: 42,
  devices: 12,
  types: ['air-compressor', 'refrigerator', 'washing-machine'],
  faultRate: 0.5,
  startTs: START,
  durationMs: 2 * DAY,
};

/** Runs the whole fleet on a virtual clock; returns the ground truth and a digest of every sample and event. */
function play(o: FleetOptions) {
  const fleet = createFleet(o);
  const hash = createHash('sha256');
  let samples = 0;
  for (const d of fleet.devices) {
    while (!d.finished) {
      d.step();
      hash.update(d.id + d.sampleJson());
      samples++;
    }
    hash.update(JSON.stringify(d.events));
  }
  return { ids: fleet.devices.map((d) => d.id), truth: fleet.groundTruth(), digest: hash.digest('hex'), samples, fleet };
}

describe('determinism by seed (pure model layer, virtual clock)', () => {
  it('two runs with the same seed give the same fleet, ground truth and samples', () => {
    const a = play(opts);
    const b = play(opts);
    expect(a.ids).toEqual(b.ids);
    expect(a.ids[0]).toBe('sim42-ac-0001');
    expect(a.truth).toEqual(b.truth);
    expect(a.truth.length).toBeGreaterThan(0);
    expect(a.samples).toBeGreaterThan(12 * 1000);
    expect(a.digest).toBe(b.digest);
    expect(a.fleet.devices.map((d) => [d.modelName, d.site.id, d.owner])).toEqual(b.fleet.devices.map((d) => [d.modelName, d.site.id, d.owner]));
  });

  it('another seed gives another fleet', () => {
    const a = play(opts);
    const c = play({ ...opts, seed: 43 });
    expect(c.ids[0]).toBe('sim43-ac-0001');
    expect(c.digest).not.toBe(a.digest);
  });

  it('devices differ from one another (tolerances, sites, usage)', () => {
    const fleet = createFleet({ ...opts, faultRate: 0, devices: 6, types: ['air-compressor'] });
    const means = fleet.devices.map((d) => {
      let sum = 0;
      let n = 0;
      while (!d.finished) {
        d.step();
        const v = d.out[0];
        if (typeof v === 'number') {
          sum += v;
          n++;
        }
      }
      return (sum / n).toFixed(4);
    });
    expect(new Set(means).size).toBe(6);
  });
});
