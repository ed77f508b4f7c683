import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { createFleet } from '../../simulator/fleet.ts';
import { writeGroundTruth } from '../../simulator/ground-truth.ts';
import { DAY } from '../../simulator/time.ts';
import { START } from './helpers.ts';

const WALL = Date.parse('2030-01-01T00:00:00Z');

describe('ground truth', () => {
  it('ground-truth.jsonl lists exactly the injected faults, on the samples\' clock, and records fixes', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'sim-gt-'));
    onTestFinished(() => rm(dir, { recursive: true, force: true }));
    const durationMs = 4 * DAY;
    const fleet = createFleet({ seed: 7, devices: 60, types: ['air-compressor', 'refrigerator', 'washing-machine'], faultRate: 0.3, startTs: START, durationMs });
    await writeGroundTruth(dir, fleet);
    const read = async () => (await readFile(join(dir, 'ground-truth.jsonl'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    const rows = await read();
    const injected = fleet.devices.flatMap((d) => d.faults.map((f) => ({ device: d.id, code: f.code, onset: f.onsetTs, failure: f.failureTs })));
    expect(rows.map((r) => [r.device, r.faultCode])).toEqual(injected.map((f) => [f.device, f.code]));
    expect(new Set(rows.map((r) => r.device)).size).toBe(18);
    for (const [i, r] of rows.entries()) {
      expect(Object.keys(r).sort()).toEqual(['command', 'device', 'deviceType', 'faultCode', 'fixedAt', 'fixedBy', 'functionalFailure', 'onset', 'remedyClass'].sort());
      expect(Date.parse(r.onset as string)).toBe(injected[i]!.onset);
      expect(Date.parse(r.functionalFailure as string)).toBeGreaterThan(Date.parse(r.onset as string));
      // the calibration period (first 10%) stays clean, and every fault begins inside the run
      expect(Date.parse(r.onset as string)).toBeGreaterThanOrEqual(START + durationMs * 0.1);
      expect(Date.parse(r.onset as string)).toBeLessThan(START + durationMs);
      expect(r.fixedAt).toBeNull();
      expect(fleet.device(r.device as string)!.type).toBe(r.deviceType);
    }
    // fix one by command; the file says when, in the samples' clock
    const row = rows.find((r) => r.remedyClass === 'command')!;
    const d = fleet.device(row.device as string)!;
    while (d.nextTs < Date.parse(row.functionalFailure as string)) d.step();
    const lastSampleTs = d.sample().ts;
    expect(d.command(row.command as string, new Date(WALL + 1000).toISOString(), WALL).status).toBe('done');
    await writeGroundTruth(dir, fleet);
    const after = (await read()).find((r) => r.device === row.device && r.faultCode === row.faultCode)!;
    expect(Date.parse(after.fixedAt as string)).toBe(lastSampleTs);
    expect(after.fixedBy).toBe(`command:${row.command as string}`);
  });

  it('always leaves a fault-free share of the fleet, even at fault rate 1', () => {
    const fleet = createFleet({ seed: 1, devices: 20, types: ['refrigerator'], faultRate: 1, startTs: START, durationMs: DAY });
    expect(fleet.healthy().length).toBeGreaterThanOrEqual(2);
    expect(fleet.groundTruth().length).toBeGreaterThanOrEqual(18);
  });

  it('the earliest onset is configurable', () => {
    const fleet = createFleet({ seed: 3, devices: 40, types: ['air-compressor'], faultRate: 0.5, startTs: START, durationMs: 10 * DAY, earliestOnset: 0.5 });
    for (const r of fleet.groundTruth()) expect(Date.parse(r.onset)).toBeGreaterThanOrEqual(START + 5 * DAY);
  });
});
