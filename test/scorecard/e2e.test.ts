import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it, onTestFinished } from 'vitest';
import { FAULTS } from '../../simulator/faults/catalogue.ts';
import { DAY, HOUR } from '../../simulator/time.ts';
import { computeScorecard } from '../../scorecard/metrics.ts';
import { writeScorecard } from '../../scorecard/report.ts';
import { runSimulation } from '../../scorecard/run.ts';
import { readGroundTruth } from '../../scorecard/sources.ts';

const run = promisify(execFile);

describe('scorecard end to end', () => {
  it('runs a seeded fleet through its own stack (shipped models) and scores a true detection', async () => {
    const out = await mkdtemp(join(tmpdir(), 'scorecard-e2e-'));
    onTestFinished(() => rm(out, { recursive: true, force: true }));
    const durationMs = 2 * DAY;
    const startTs = Math.floor((Date.now() - durationMs - 60_000) / 60_000) * 60_000;
    const faulty = 'simsce2e-ac-0001';
    const res = await runSimulation({
      fleet: {
        seed: 'sc-e2e', devices: 3, types: ['air-compressor'], faultRate: 0, startTs, durationMs,
        faultPlan: { [faulty]: [{ code: 'ac-bearing-wear', onsetTs: startTs + 12 * HOUR, failureTs: startTs + 40 * HOUR }] },
      },
      outDir: out,
      log: () => undefined,
      logLevel: 'silent',
    });
    expect(res.summary.samplesSent).toBeGreaterThan(3 * 2000);
    const truth = await readGroundTruth(res.groundTruthFile);
    expect(truth).toHaveLength(1);
    const sc = computeScorecard({
      truth, diagnoses: res.diagnoses, faultCodes: FAULTS.filter((f) => f.deviceType === 'air-compressor').map((f) => f.code),
      runStartTs: startTs, runEndTs: startTs + durationMs, devices: 3, graceMs: 6 * HOUR,
    });
    expect(sc.byFault['ac-bearing-wear']).toMatchObject({ faults: 1, detected: 1 });
    expect(sc.byFault['ac-bearing-wear']!.leadTimeMedianHours).toBeGreaterThan(0);

    const file = await writeScorecard(out, sc, { seed: 'sc-e2e' });
    const json = JSON.parse(await readFile(file, 'utf8')) as { overall: Record<string, unknown>; byFault: Record<string, Record<string, unknown>> };
    for (const row of [json.overall, ...Object.values(json.byFault)]) {
      for (const key of ['precision', 'recall', 'f1', 'falsePer1000DeviceDays', 'leadTimeMedianHours', 'leadTimeP10Hours', 'detectionDelayMedianHours', 'detectionDelayP90Hours']) {
        expect(row, key).toHaveProperty(key);
      }
    }
    expect(json.overall.recall).toBe(1);

    // the CLI scores the same run from its files
    await writeFile(join(out, 'diagnoses.json'), JSON.stringify(res.diagnoses));
    const cliOut = join(out, 'cli');
    const { stdout } = await run('npx', ['tsx', 'scripts/scorecard.ts', '--ground-truth', res.groundTruthFile, '--diagnoses', join(out, 'diagnoses.json'), '--out', cliOut]);
    expect(stdout).toMatch(/^ac-bearing-wear\s+1\s+1\s/m);
    const cli = JSON.parse(await readFile(join(cliOut, 'scorecard.json'), 'utf8')) as { byFault: Record<string, { detected: number }> };
    expect(cli.byFault['ac-bearing-wear']!.detected).toBe(1);
  });
});
