/** Where the scorecard's inputs come from: a run's files, or a platform's API. */
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { ScoredDiagnosis, TruthFault } from './metrics.ts';

export interface RunInfo {
  devices: number;
  startTs: number;
  endTs: number;
}

function parseLines<T>(text: string): T[] {
  const t = text.trim();
  if (t === '') return [];
  // a JSON array (the API's answer saved as-is) or JSON lines
  if (t.startsWith('[')) return JSON.parse(t) as T[];
  return t.split('\n').filter((l) => l.trim() !== '').map((l) => JSON.parse(l) as T);
}

export async function readGroundTruth(file: string): Promise<TruthFault[]> {
  return parseLines<TruthFault>(await readFile(file, 'utf8'));
}

/** summary.json written by the simulator next to ground-truth.jsonl: fleet size and simulated span. */
export async function readRunInfo(groundTruthFile: string): Promise<RunInfo> {
  const s = JSON.parse(await readFile(join(dirname(groundTruthFile), 'summary.json'), 'utf8')) as { devices: number; simulatedFrom: string; simulatedTo: string };
  return { devices: s.devices, startTs: Date.parse(s.simulatedFrom), endTs: Date.parse(s.simulatedTo) };
}

export async function readDiagnosesFile(file: string): Promise<ScoredDiagnosis[]> {
  return parseLines<ScoredDiagnosis>(await readFile(file, 'utf8'));
}

const PAGE = 10_000;

/**
 * GET /api/v1/diagnoses pages backwards in raisedAt (newest first, ≤ 10,000 a
 * page): each next page ends just after the oldest raisedAt seen, so ties at
 * a page edge are fetched again and dropped by id.
 */
export async function fetchDiagnoses(o: { apiUrl: string; apiKey: string; fromTs: number; toTs: number }): Promise<ScoredDiagnosis[]> {
  const seen = new Map<string, ScoredDiagnosis>();
  let to = o.toTs;
  for (;;) {
    const url = `${o.apiUrl.replace(/\/$/, '')}/api/v1/diagnoses?limit=${PAGE}&from=${o.fromTs}&to=${to}`;
    const res = await fetch(url, { headers: { authorization: `Bearer ${o.apiKey}` } });
    if (!res.ok) throw new Error(`GET /api/v1/diagnoses: ${res.status} ${await res.text()}`);
    const page = (await res.json()) as Array<ScoredDiagnosis & { id: string }>;
    let fresh = 0;
    for (const d of page) {
      if (!seen.has(d.id)) fresh++;
      seen.set(d.id, d);
    }
    if (page.length < PAGE) break;
    if (fresh === 0) throw new Error(`more than ${PAGE} diagnoses share raisedAt ${page.at(-1)!.raisedAt}; cannot page past them`);
    to = Date.parse(page.at(-1)!.raisedAt) + 1;
  }
  return [...seen.values()];
}
