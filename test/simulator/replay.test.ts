import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { describe, expect, it, onTestFinished } from 'vitest';
import { readCsv } from '../../simulator/replay/csv.ts';
import { replayCsv } from '../../simulator/replay/replay.ts';
import { parseTimestamp } from '../../simulator/replay/timestamps.ts';
import { useStack } from '../helpers/stack.ts';

describe('CSV timestamps', () => {
  const t = Date.parse('2025-03-04T05:06:07Z');
  it.each([
    ['2025-03-04T05:06:07Z', t],
    ['2025-03-04T07:06:07+02:00', t],
    ['2025-03-04T05:06:07.250Z', t + 250],
    ['2025-03-04T05:06:07', t],
    ['2025-03-04 05:06:07', t],
    ['04.03.2025 05:06:07', t],
    ['04.03.2025 05:06', t - 7000],
    ['03/04/2025 05:06:07', t],
    ['03/04/2025 5:06:07 AM', t],
    ['03/04/2025 05:06:07 PM', t + 12 * 3600_000],
    [String(t / 1000), t],
    [String(t), t],
    ['1741064767.5', t + 500],
  ])('%s', (text, expected) => expect(parseTimestamp(text)).toBe(expected));

  it('refuses what is no time, and reads zone-less times in the given zone', () => {
    for (const bad of ['', 'yesterday', '31.02.2025 10:00', '2025-13-01T00:00:00Z', '13/45/2025 10:00']) expect(parseTimestamp(bad), bad).toBeUndefined();
    expect(parseTimestamp('2025-03-04 07:06:07', 120)).toBe(t);
  });
});

describe('CSV reader', () => {
  it('detects the separator, keeps quoted separators, quotes and newlines, and numbers records by their first line', async () => {
    const text = '\ufefftime;a;"note"\r\n1;"x;y";"say ""hi"""\r\n2;"multi\nline";z\n3;4;5';
    // feed it one character at a time: chunk boundaries anywhere
    const recs = [];
    for await (const r of readCsv(Readable.from(text.split('')))) recs.push(r);
    expect(recs.map((r) => [r.line, r.fields])).toEqual([
      [1, ['time', 'a', 'note']],
      [2, ['1', 'x;y', 'say "hi"']],
      [3, ['2', 'multi\nline', 'z']],
      [5, ['3', '4', '5']],
    ]);
    expect(recs[0]!.separator).toBe(';');
  });
});

describe('replay through the real broker into storage', () => {
  it('publishes a CSV as one device with its original timestamps and values; bad rows are reported by line and skipped', async () => {
    const s = await useStack();
    const dir = await mkdtemp(join(tmpdir(), 'sim-replay-'));
    onTestFinished(() => rm(dir, { recursive: true, force: true }));
    const file = join(dir, 'data.csv');
    // semicolons, decimal commas, a quoted comment column holding the separator, a mapped column,
    // a column named like a metric, a missing value, a bad time and a bad number
    await writeFile(
      file,
      [
        'Zeit;Druck bar;oilTempC;Kommentar;loaded',
        '01.06.2025 10:00:00;7,25;78,5;"ok; läuft";1',
        '01.06.2025 10:01:00;7,31;;"kein Öl-Wert";0',
        'kaputt;7,40;79,0;"";1',
        '01.06.2025 10:03:00;7,12;80,25;"";true',
        '01.06.2025 10:04:00;abc;80,5;"";1',
        '"01.06.2025 10:05:00";6,98;81;"mehrzeilig',
        'Kommentar";false',
      ].join('\r\n') + '\r\n',
    );
    const bad: [number, string][] = [];
    const summary = await replayCsv({
      file,
      type: 'air-compressor',
      device: 'replay-ac-1',
      timeColumn: 'Zeit',
      map: { 'Druck bar': 'dischargePressureBar' },
      speed: 'max',
      apiUrl: s.httpUrl,
      mqttUrl: s.mqttUrl,
      apiKey: s.adminKey,
      onBadRow: (line, reason) => bad.push([line, reason]),
    });
    expect(summary).toMatchObject({ rows: 6, published: 4, registered: true });
    expect(bad.map(([l]) => l)).toEqual([4, 6]);
    expect(bad[0]![1]).toMatch(/time/);
    expect(bad[1]![1]).toMatch(/dischargePressureBar/);

    const expected = [
      ['2025-06-01T10:00:00.000Z', { dischargePressureBar: 7.25, oilTempC: 78.5, loaded: true }],
      ['2025-06-01T10:01:00.000Z', { dischargePressureBar: 7.31, loaded: false }],
      ['2025-06-01T10:03:00.000Z', { dischargePressureBar: 7.12, oilTempC: 80.25, loaded: true }],
      ['2025-06-01T10:05:00.000Z', { dischargePressureBar: 6.98, oilTempC: 81, loaded: false }],
    ];
    const read = async () =>
      (await s.http<{ rows: { ts: string; values: Record<string, unknown> }[] }>('GET', '/api/v1/devices/replay-ac-1/telemetry?from=2025-06-01T00:00:00Z&to=2025-06-02T00:00:00Z')).body.rows;
    await expect.poll(async () => (await read()).length, { timeout: 5000 }).toBe(4);
    const rows = await read();
    expect(rows.map((r) => [r.ts, Object.fromEntries(Object.entries(r.values).filter(([, v]) => v !== null))])).toEqual(expected);

    // replaying again reuses the device (fresh secret) and rewrites the same points
    const again = await replayCsv({ file, type: 'air-compressor', device: 'replay-ac-1', timeColumn: 'Zeit', map: { 'Druck bar': 'dischargePressureBar' }, speed: 1000, apiUrl: s.httpUrl, mqttUrl: s.mqttUrl, apiKey: s.adminKey });
    expect(again).toMatchObject({ published: 4, registered: false });
    expect((await read()).length).toBe(4);
  });
});
