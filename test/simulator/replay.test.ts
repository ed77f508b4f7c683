import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { describe, expect, it, onTestFinished } from 'vitest';
import { readCsv } from '../../simulator/replay/csv.ts';
import { parseReplayArgs } from '../../simulator/replay/cli.ts';
import { numberText, replayCsv } from '../../simulator/replay/replay.ts';
import { RecordingClock, parseTimestamp } from '../../simulator/replay/timestamps.ts';
import { createModelScorer } from '../../diagnosis/model/scorer.ts';
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
    [String(t * 1000), t], // epoch µs
    [`${t}000000`, t], // epoch ns
  ])('%s', (text, expected) => expect(parseTimestamp(text)).toBe(expected));

  it('a recording before 2000 (elapsed seconds from 0, an old bench) starts on 2000-01-01, or at --start; repeated times move 1 ms apart', () => {
    const y2k = Date.UTC(2000, 0, 1);
    const elapsed = new RecordingClock();
    expect(['0.0', '1.0', '1.0', '1.0', '2.5'].map((v) => elapsed.next(v))).toEqual([y2k, y2k + 1000, y2k + 1001, y2k + 1002, y2k + 2500]);
    expect(elapsed).toMatchObject({ shiftMs: y2k, nudged: 2 });
    const old = new RecordingClock();
    expect(['1999-12-31 23:00:00', '1999-12-31 23:00:10'].map((v) => old.next(v))).toEqual([y2k, y2k + 10_000]);
    // newest first: the earliest row (recordingOrigin) lands on 2000-01-01, none before it
    const newest = new RecordingClock({ origin: 9_000 });
    expect(['10', '10', '9'].map((v) => newest.next(v))).toEqual([y2k + 1000, y2k + 1001, y2k]);
    // a repeated time moves past the row after it too: every time stays unique
    const ms = new RecordingClock();
    expect(['1000000000000', '1000000000000', '1000000000001', '1000000000003'].map((v) => ms.next(v))).toEqual([1e12, 1e12 + 1, 1e12 + 2, 1e12 + 3]);
    expect(ms.nudged).toBe(2);
    // a row that goes back in time onto one already sent moves past it too
    const back = new RecordingClock();
    expect(['1000000000010', '1000000000010', '1000000000010', '1000000000005', '1000000000010'].map((v) => back.next(v))).toEqual([1e12 + 10, 1e12 + 11, 1e12 + 12, 1e12 + 5, 1e12 + 13]);
    const at = new RecordingClock({ startTs: t });
    expect(['2025-01-01T00:00:00Z', 'junk', '2025-01-01T00:01:00Z'].map((v) => at.next(v))).toEqual([t, undefined, t + 60_000]);
    // a recent recording keeps its times
    const recent = new RecordingClock();
    expect(recent.next('2025-03-04T05:06:07Z')).toBe(t);
    expect(recent.shiftMs).toBe(0);
  });

  it('refuses what is no time, and reads zone-less times in the given zone', () => {
    for (const bad of ['', 'yesterday', '31.02.2025 10:00', '2025-13-01T00:00:00Z', '13/45/2025 10:00']) expect(parseTimestamp(bad), bad).toBeUndefined();
    expect(parseTimestamp('2025-03-04 07:06:07', 120)).toBe(t);
  });
});

describe('CSV numbers', () => {
  it.each([
    ['3.5', ';', '3.5'],
    ['3,5', ';', '3.5'],
    ['3,5', '\t', '3.5'], // a tab-separated export with decimal commas
    ['1.234,5', ';', '1234.5'],
    ['1,234.5', '\t', '1234.5'],
    ['1 234,5', ';', '1234.5'],
    ['3,5', ',', '3,5'], // with a comma separator a comma in a cell is no decimal mark
  ])('%s with %j', (text, sep, expected) => expect(numberText(text, sep)).toBe(expected));
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

  it('ends records at a lone CR (old Mac Excel) as at LF or CRLF, and reads a file whose start is not UTF-8 in the Windows code page', async () => {
    const read = async (chunks: Array<string | Buffer>) => {
      const recs = [];
      for await (const r of readCsv(Readable.from(chunks))) recs.push([r.line, r.fields]);
      return recs;
    };
    expect(await read('t,a\r1,2\r2,"x\r\ny"\r\n3,"p\rq"\r5,6'.split(''))).toEqual([
      [1, ['t', 'a']],
      [2, ['1', '2']],
      [3, ['2', 'x\r\ny']],
      [5, ['3', 'p\rq']],
      [7, ['5', '6']],
    ]);
    // Excel's "CSV" on a German Windows: `Temperatur °C` in Windows-1252, the ° one byte (0xb0)
    const cp1252 = Buffer.from('Zeit;Temperatur \xb0C\r\n1;20,5\r\n', 'latin1');
    expect(await read([cp1252])).toEqual([
      [1, ['Zeit', 'Temperatur °C']],
      [2, ['1', '20,5']],
    ]);
    // UTF-8 at the start and not later: an error naming where, not replacement characters
    await expect(read([Buffer.from('t,a\n1,°\n', 'utf8'), Buffer.from('2,\xb0\n', 'latin1')])).rejects.toThrow(/line 3: the file began as UTF-8 and is not UTF-8 here/);
  });
});

describe('replay through the real broker into storage', () => {
  it('publishes a CSV as one device with its original timestamps and values; rows without a time are reported by line and skipped, unreadable cells left out', async () => {
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
        '01.06.2025 10:06:00;7,02;500;"Fühler defekt";1',
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
      waitForDecisions: false, // a rules-only stack writes no anomaly decisions
    });
    expect(summary).toMatchObject({ rows: 7, published: 6, registered: true, badRowCount: 1, shiftMs: 0, nudged: 0 });
    // the oil reading outside the type's range: ingest refused that sample, and replay says so and why
    expect(summary.refused).toEqual({ count: 1, byReason: { out_of_range: 1 }, examples: ['out_of_range: oilTempC: 500 is above 130 °C'], capped: false });
    expect(bad.map(([l]) => l)).toEqual([4]);
    expect(bad[0]![1]).toMatch(/time/);
    // the unreadable pressure costs that value only: the row's oil temperature and load state are sent
    expect(summary.unreadable).toEqual({ 'Druck bar': { count: 1, example: 'abc', line: 6 } });

    const expected = [
      ['2025-06-01T10:00:00.000Z', { dischargePressureBar: 7.25, oilTempC: 78.5, loaded: true }],
      ['2025-06-01T10:01:00.000Z', { dischargePressureBar: 7.31, loaded: false }],
      ['2025-06-01T10:03:00.000Z', { dischargePressureBar: 7.12, oilTempC: 80.25, loaded: true }],
      ['2025-06-01T10:04:00.000Z', { oilTempC: 80.5, loaded: true }],
      ['2025-06-01T10:05:00.000Z', { dischargePressureBar: 6.98, oilTempC: 81, loaded: false }],
    ];
    const read = async () =>
      (await s.http<{ rows: { ts: string; values: Record<string, unknown> }[] }>('GET', '/api/v1/devices/replay-ac-1/telemetry?from=2025-06-01T00:00:00Z&to=2025-06-02T00:00:00Z')).body.rows;
    await expect.poll(async () => (await read()).length, { timeout: 5000 }).toBe(5);
    const rows = await read();
    expect(rows.map((r) => [r.ts, Object.fromEntries(Object.entries(r.values).filter(([, v]) => v !== null))])).toEqual(expected);

    // replaying again reuses the device (fresh secret) and rewrites the same points
    const again = await replayCsv({ file, type: 'air-compressor', device: 'replay-ac-1', timeColumn: 'Zeit', map: { 'Druck bar': 'dischargePressureBar' }, speed: 1000, apiUrl: s.httpUrl, mqttUrl: s.mqttUrl, apiKey: s.adminKey, waitForDecisions: false });
    expect(again).toMatchObject({ published: 6, registered: false, refused: { count: 1 } });
    expect((await read()).length).toBe(5);
  });

  it('elapsed seconds, a repeated time, missing-value words and 0/1 written as 1.0/0.0: every row is stored and decided before replay returns', async () => {
    const s = await useStack({}, { scorer: ({ opsStore, logger }) => createModelScorer({ logger, opsStore }) });
    const dir = await mkdtemp(join(tmpdir(), 'sim-replay-'));
    onTestFinished(() => rm(dir, { recursive: true, force: true }));
    const file = join(dir, 'bench.csv');
    await writeFile(file, 'time,dischargePressureBar,oilTempC,loaded\n0.0,7.1,78,1.0\n1.0,7.2,inf,0.0\n1.0,7.3,79,1.0\n2.0,#N/A,80,0.0\n');
    const summary = await replayCsv({ file, type: 'air-compressor', device: 'replay-ac-2', timeColumn: 'time', speed: 'max', apiUrl: s.httpUrl, mqttUrl: s.mqttUrl, apiKey: s.adminKey });
    const y2k = Date.UTC(2000, 0, 1);
    // the compressor's shipped model: every sample has its decision (no alarm while the device calibrates) when replay returns
    expect(summary).toMatchObject({ rows: 4, published: 4, badRowCount: 0, unreadable: {}, shiftMs: y2k, nudged: 1, firstTs: new Date(y2k).toISOString(), decided: 4 });
    const read = async () =>
      (await s.http<{ rows: { ts: string; values: Record<string, unknown> }[] }>('GET', '/api/v1/devices/replay-ac-2/telemetry?metrics=dischargePressureBar,oilTempC,loaded')).body.rows;
    await expect.poll(async () => (await read()).length, { timeout: 5000 }).toBe(4);
    expect((await read()).map((r) => [Date.parse(r.ts) - y2k, Object.fromEntries(Object.entries(r.values).filter(([, v]) => v !== null))])).toEqual([
      [0, { dischargePressureBar: 7.1, oilTempC: 78, loaded: true }],
      [1000, { dischargePressureBar: 7.2, loaded: false }],
      [1001, { dischargePressureBar: 7.3, oilTempC: 79, loaded: true }],
      [2000, { oilTempC: 80, loaded: false }],
    ]);
  });

  it('a recording without a time column (--interval): row i is sent i intervals after 2000-01-01, or after --start', async () => {
    const s = await useStack({});
    const dir = await mkdtemp(join(tmpdir(), 'sim-replay-'));
    onTestFinished(() => rm(dir, { recursive: true, force: true }));
    const file = join(dir, 'te.csv');
    // a sample index is not a time: it is a column like any other, left out as no metric
    await writeFile(file, 'sample;dischargePressureBar;oilTempC\n1;7,1;78\n\n2;7,2;79\n3;;80\n');
    const target = { speed: 'max' as const, apiUrl: s.httpUrl, mqttUrl: s.mqttUrl, apiKey: s.adminKey, waitForDecisions: false };
    const y2k = Date.UTC(2000, 0, 1);
    const summary = await replayCsv({ file, type: 'air-compressor', device: 'replay-ac-3', intervalMs: 180_000, ...target });
    expect(summary).toMatchObject({ rows: 3, published: 3, badRowCount: 0, nudged: 0, firstTs: new Date(y2k).toISOString(), lastTs: new Date(y2k + 360_000).toISOString() });
    const read = async (id: string) =>
      (await s.http<{ rows: { ts: string; values: Record<string, unknown> }[] }>('GET', `/api/v1/devices/${id}/telemetry?metrics=dischargePressureBar,oilTempC`)).body.rows.map((r) => [
        r.ts,
        Object.fromEntries(Object.entries(r.values).filter(([, v]) => v !== null)),
      ]);
    await expect.poll(async () => (await read('replay-ac-3')).length, { timeout: 5000 }).toBe(3);
    expect(await read('replay-ac-3')).toEqual([
      [new Date(y2k).toISOString(), { dischargePressureBar: 7.1, oilTempC: 78 }],
      [new Date(y2k + 180_000).toISOString(), { dischargePressureBar: 7.2, oilTempC: 79 }],
      [new Date(y2k + 360_000).toISOString(), { oilTempC: 80 }],
    ]);
    const start = Date.parse('2024-05-06T07:00:00Z');
    await replayCsv({ file, type: 'air-compressor', device: 'replay-ac-4', intervalMs: 1000, startTs: start, ...target });
    await expect.poll(async () => (await read('replay-ac-4')).map(([ts]) => ts), { timeout: 5000 }).toEqual([0, 1000, 2000].map((d) => new Date(start + d).toISOString()));
    await expect(replayCsv({ file, type: 'air-compressor', device: 'replay-ac-5', ...target })).rejects.toThrow('either a time column or an interval');
    await expect(replayCsv({ file, type: 'air-compressor', device: 'replay-ac-5', timeColumn: 'sample', intervalMs: 1000, ...target })).rejects.toThrow('either a time column or an interval');
    await expect(replayCsv({ file, type: 'air-compressor', device: 'replay-ac-5', intervalMs: 0.5, ...target })).rejects.toThrow('whole number of milliseconds');
    // refused before the device was registered
    expect((await s.http('GET', '/api/v1/devices/replay-ac-5')).status).toBe(404);
  });
});

describe('replay command line', () => {
  const base = ['--file', 'x.csv', '--type', 'air-compressor', '--device', 'd1', '--api-key', 'k'];
  it('takes --time-column or --interval, not both and not neither', () => {
    expect(parseReplayArgs([...base, '--time-column', 'ts'], {})).toMatchObject({ timeColumn: 'ts', intervalMs: undefined });
    expect(parseReplayArgs([...base, '--interval', '3m'], {})).toMatchObject({ timeColumn: undefined, intervalMs: 180_000 });
    expect(parseReplayArgs([...base, '--interval', '250ms'], {}).intervalMs).toBe(250);
    expect(() => parseReplayArgs(base, {})).toThrow('give --time-column or, for a recording without times, --interval');
    expect(() => parseReplayArgs([...base, '--time-column', 'ts', '--interval', '1s'], {})).toThrow('give --time-column or');
    expect(() => parseReplayArgs([...base, '--interval', 'often'], {})).toThrow('--interval must be a duration');
    expect(() => parseReplayArgs([...base, '--interval', '0s'], {})).toThrow('--interval must be a duration');
    // what rounds to no time at all is no interval either
    expect(() => parseReplayArgs([...base, '--interval', '0.4ms'], {})).toThrow('--interval must be a duration');
    expect(() => parseReplayArgs([...base, '--interval', '1s', '--utc-offset', '+02:00'], {})).toThrow('with --interval it has none');
  });
});
