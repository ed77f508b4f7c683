/** The scorecard as a terminal table and as scorecard.json. */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { FaultScore, Scorecard } from './metrics.ts';

const COLS: Array<[string, (s: FaultScore) => string]> = [
  ['faults', (s) => String(s.faults)],
  ['det', (s) => String(s.detected)],
  ['failed unseen', (s) => String(s.missedFailed)],
  ['diag', (s) => String(s.diagnoses)],
  ['false', (s) => String(s.falseDiagnoses)],
  ['prec', (s) => num(s.precision, 3)],
  ['recall', (s) => num(s.recall, 3)],
  ['recall caught|failed', (s) => num(s.recallCaughtOrFailed, 3)],
  ['F1', (s) => num(s.f1, 3)],
  ['false/1kdd', (s) => num(s.falsePer1000DeviceDays, 2)],
  ['delay med h', (s) => num(s.detectionDelayMedianHours, 1)],
  ['delay p90 h', (s) => num(s.detectionDelayP90Hours, 1)],
  ['lead med h', (s) => num(s.leadTimeMedianHours, 1)],
  ['lead p10 h', (s) => num(s.leadTimeP10Hours, 1)],
];

function num(v: number | null, digits: number): string {
  return v === null ? '–' : v.toFixed(digits);
}

export function formatScorecard(sc: Scorecard): string {
  const rows: string[][] = [['fault', ...COLS.map((c) => c[0])]];
  for (const [code, s] of Object.entries(sc.byFault)) rows.push([code, ...COLS.map((c) => c[1](s))]);
  rows.push(['overall', ...COLS.map((c) => c[1](sc.overall))]);
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  const lines = rows.map((r) => r.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join('  '));
  lines.splice(1, 0, widths.map((w) => '-'.repeat(w)).join('  '));
  lines.splice(lines.length - 1, 0, widths.map((w) => '-'.repeat(w)).join('  '));
  const o = sc.overall;
  lines.push(
    '',
    `device-days ${sc.deviceDays.toFixed(1)}; grace ${sc.graceHours} h; anomaly (model-only) diagnoses ${o.anomalyDiagnoses}, ` +
      `${o.anomalyFalse} of them on a device with no active fault (in overall false)` +
      (sc.anomalyCountsForRecall ? '; anomaly diagnoses count toward recall' : ''),
  );
  if (sc.misses.length) {
    lines.push(`missed ${sc.misses.length} (${o.missedFailed} reached functional failure unseen; the others were still developing when scoring stopped):`);
    for (const m of sc.misses) {
      const also = m.otherFaults.length ? ` (also ${m.otherFaults.join(', ')})` : '';
      lines.push(`  ${m.faultCode} ${m.device} onset ${m.onset.slice(0, 16)}Z, ${(m.developed * 100).toFixed(0)} % developed${also}`);
    }
  }
  const ignored = Object.entries(sc.ignored);
  if (ignored.length) lines.push(`not scored (not in the fault catalogue): ${ignored.map(([k, v]) => `${k} ${v}`).join(', ')}`);
  return lines.join('\n') + '\n';
}

export async function writeScorecard(dir: string, sc: Scorecard, meta: Record<string, unknown>): Promise<string> {
  await mkdir(dir, { recursive: true });
  const file = join(dir, 'scorecard.json');
  await writeFile(file, JSON.stringify({ ...meta, ...sc }, null, 2) + '\n');
  return file;
}
