import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { csvCell } from '../../api/telemetry-csv.ts';
import type { Point } from '../../core/domain/telemetry.ts';
import { readCsv } from '../../simulator/replay/csv.ts';
import { startTestApi, T0, type TestApi } from './helpers.ts';

let t: TestApi;
const MIN = 60_000;
const COMPRESSOR = 'dischargePressureBar,dischargeTempC,oilTempC,ambientTempC,motorCurrentA,vibrationRmsMmS,airFilterDpMbar,separatorDpBar,loaded,loadCycles,runHours,loadedHours';
const iso = (ms: number) => new Date(ms).toISOString();

beforeAll(async () => {
  t = await startTestApi();
  await t.opsStore.registerDevices([{ type: 'air-compressor', id: 'tc-1' }, { type: 'refrigerator', id: 'fr-1' }]);
  // Ten samples, one a minute, 11:50 … 11:59 (T0 is 12:00).
  const points: Point[] = Array.from({ length: 10 }, (_, i) => ({
    deviceId: 'tc-1',
    type: 'air-compressor',
    model: null,
    site: null,
    ts: T0 - (10 - i) * MIN,
    metrics: { dischargePressureBar: 7 + i / 10, motorCurrentA: 40 + i, loaded: i % 2 === 0 },
  }));
  await t.telemetryStore.write(points);
});
afterAll(() => t?.close());

const query = async (qs: string, id = 'tc-1') => t.call('viewer', { method: 'GET', url: `/api/v1/devices/${id}/telemetry${qs ? `?${qs}` : ''}` });

describe('telemetry', () => {
  it('returns all the device has sent by default (a replayed recording, sample by sample), oldest first', async () => {
    const res = await query('');
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toBe('application/json; charset=utf-8');
    expect(res.json).toMatchObject({ deviceId: 'tc-1', type: 'air-compressor', from: '2000-01-01T00:00:00.000Z', to: iso(T0), every: null, fn: null });
    expect(res.json.rows).toHaveLength(10);
    expect(res.json.rows[0]).toEqual({ ts: iso(T0 - 10 * MIN), values: { dischargePressureBar: 7, motorCurrentA: 40, loaded: true } });
    expect(res.json.rows[9]).toEqual({ ts: iso(T0 - MIN), values: { dischargePressureBar: 7.9, motorCurrentA: 49, loaded: false } });
  });

  it('a recording replayed with its own (old) times comes back whole without a range', async () => {
    await t.opsStore.registerDevices([{ type: 'air-compressor', id: 'old-1' }]);
    const at = Date.parse('2020-02-08T18:34:51Z');
    await t.telemetryStore.write(Array.from({ length: 3 }, (_, i) => ({ deviceId: 'old-1', type: 'air-compressor', model: null, site: null, ts: at + i * 1000, metrics: { anomaly: i % 2 } })));
    const res = await query('metrics=anomalyScore,anomaly', 'old-1');
    expect(res.statusCode).toBe(200);
    expect(res.json.rows.map((r: { ts: string; values: Record<string, unknown> }) => [r.ts, r.values.anomaly])).toEqual([
      [iso(at), 0],
      [iso(at + 1000), 1],
      [iso(at + 2000), 0],
    ]);
    expect(res.json.next).toBeNull();
  });

  it('selects metrics and limits rows', async () => {
    const res = await query('metrics=motorCurrentA,loaded&limit=3');
    expect(res.json.rows).toEqual([
      { ts: iso(T0 - 10 * MIN), values: { motorCurrentA: 40, loaded: true } },
      { ts: iso(T0 - 9 * MIN), values: { motorCurrentA: 41, loaded: false } },
      { ts: iso(T0 - 8 * MIN), values: { motorCurrentA: 42, loaded: true } },
    ]);
    const repeated = await query('metrics=motorCurrentA&metrics=loaded&limit=1');
    expect(repeated.json.rows[0].values).toEqual({ motorCurrentA: 40, loaded: true });
  });

  it('pages with next when limit cuts the answer short', async () => {
    expect((await query('')).json.next).toBeNull();
    const seen: number[] = [];
    let from = iso(T0 - 60 * MIN);
    const nexts: Array<string | null> = [];
    for (let page = 0; page < 10; page++) {
      const res = await query(`metrics=motorCurrentA&limit=3&from=${from}&to=${T0}`);
      expect(res.statusCode).toBe(200);
      seen.push(...res.json.rows.map((r: { values: { motorCurrentA: number } }) => r.values.motorCurrentA));
      nexts.push(res.json.next);
      if (res.json.next === null) break;
      from = res.json.next;
    }
    expect(seen).toEqual([40, 41, 42, 43, 44, 45, 46, 47, 48, 49]);
    // 3 + 3 + 3 rows each cut short, then the last one; the next page starts 1 ms after the last row
    expect(nexts).toEqual([iso(T0 - 8 * MIN + 1), iso(T0 - 5 * MIN + 1), iso(T0 - 2 * MIN + 1), null]);
    // a full page that reaches the end of the range has nowhere to go
    expect((await query(`limit=2&from=${iso(T0 - 2 * MIN)}&to=${T0 - MIN + 1}`)).json.next).toBeNull();
    // windows: the next page starts at the window after the last one
    const agg = await query('every=5m&fn=max&metrics=motorCurrentA&limit=1');
    expect(agg.json.next).toBe(iso(T0 - 5 * MIN));
  });

  it('takes from as ISO 8601 and to as epoch ms (from inclusive, to exclusive)', async () => {
    const res = await query(`metrics=motorCurrentA&from=${iso(T0 - 5 * MIN)}&to=${T0 - 2 * MIN}`);
    expect(res.statusCode).toBe(200);
    expect(res.json.from).toBe(iso(T0 - 5 * MIN));
    expect(res.json.to).toBe(iso(T0 - 2 * MIN));
    expect(res.json.rows.map((r: { values: { motorCurrentA: number } }) => r.values.motorCurrentA)).toEqual([45, 46, 47]);

    // Offsets: %2B-encoded, and a bare + that the query string turned into a space.
    const encoded = await query(`metrics=motorCurrentA&from=2025-06-01T13:55:00%2B02:00&to=2025-06-01T13:57:00%2B02:00`);
    expect(encoded.json.rows.map((r: { values: { motorCurrentA: number } }) => r.values.motorCurrentA)).toEqual([45, 46]);
    const bare = await query(`metrics=motorCurrentA&from=2025-06-01T13:55:00+02:00&to=${T0 - 3 * MIN}`);
    expect(bare.statusCode).toBe(200);
    expect(bare.json.rows.map((r: { values: { motorCurrentA: number } }) => r.values.motorCurrentA)).toEqual([45, 46]);
  });

  it('aggregates per epoch-aligned window, mean by default', async () => {
    const mean = await query('every=5m&metrics=dischargePressureBar,motorCurrentA');
    expect(mean.statusCode).toBe(200);
    expect(mean.json).toMatchObject({ every: 300_000, fn: 'mean' });
    expect(mean.json.rows.map((r: { ts: string }) => r.ts)).toEqual([iso(T0 - 10 * MIN), iso(T0 - 5 * MIN)]);
    expect(mean.json.rows[0].values.dischargePressureBar).toBeCloseTo(7.2, 10);
    expect(mean.json.rows[1].values.dischargePressureBar).toBeCloseTo(7.7, 10);
    expect(mean.json.rows[0].values.motorCurrentA).toBe(42);
    expect(mean.json.rows[1].values.motorCurrentA).toBe(47);

    const max = await query('every=300000&fn=max&metrics=motorCurrentA');
    expect(max.json.rows).toEqual([
      { ts: iso(T0 - 10 * MIN), values: { motorCurrentA: 44 } },
      { ts: iso(T0 - 5 * MIN), values: { motorCurrentA: 49 } },
    ]);
    const min = await query('every=1h&fn=min&metrics=motorCurrentA');
    expect(min.json.rows).toEqual([{ ts: iso(T0 - 60 * MIN), values: { motorCurrentA: 40 } }]);
    const count = await query('every=1d&fn=count');
    expect(count.json.rows).toEqual([{ ts: '2025-06-01T00:00:00.000Z', values: { dischargePressureBar: 10, motorCurrentA: 10, loaded: 10 } }]);
    const last = await query('every=30s&fn=last&metrics=loaded&limit=2');
    expect(last.json.rows).toEqual([
      { ts: iso(T0 - 10 * MIN), values: { loaded: true } },
      { ts: iso(T0 - 9 * MIN), values: { loaded: false } },
    ]);
  });

  it('answers 400 naming unknown metrics, and 404 for an unknown device', async () => {
    const res = await query('metrics=motorCurrentA,doorOpen,speedRpm');
    expect(res.statusCode).toBe(400);
    expect(res.json.code).toBe('FLEETDOC_ERR_VALIDATION');
    expect(res.json.message).toContain('doorOpen, speedRpm');
    expect(res.json.details).toEqual({ unknownMetrics: ['doorOpen', 'speedRpm'] });
    // A metric of another type is unknown for this one.
    expect((await query('metrics=compressorOn')).statusCode).toBe(400);
    expect((await query('', 'no-such-device')).statusCode).toBe(404);
  });

  it('exports CSV: ts then the type’s metrics in declared order, booleans as words, a download that replay reads back', async () => {
    const res = await query('format=csv');
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toBe('text/csv; charset=utf-8');
    expect(res.headers['content-disposition']).toBe('attachment; filename="tc-1-telemetry.csv"');
    expect(res.headers.link).toBeUndefined();
    expect(res.headers.vary).toBe('Accept');
    const lines = res.body.split('\r\n');
    // every metric of the type in its declared order, then the engine's, whether the rows carry them or not
    expect(lines[0]).toBe(`ts,${COMPRESSOR},anomalyScore,anomaly`);
    const cells = (line: string) => Object.fromEntries(line.split(',').map((c, i) => [lines[0]!.split(',')[i], c]).filter(([, c]) => c !== ''));
    expect(cells(lines[1]!)).toEqual({ ts: iso(T0 - 10 * MIN), dischargePressureBar: '7', motorCurrentA: '40', loaded: 'true' });
    expect(cells(lines[10]!)).toEqual({ ts: iso(T0 - MIN), dischargePressureBar: '7.9', motorCurrentA: '49', loaded: 'false' });
    expect(lines.slice(11)).toEqual(['']);
    // the file is what `npm run replay` reads: same rows, same values
    const records: string[][] = [];
    for await (const r of readCsv(Readable.from([res.body]))) records.push(r.fields);
    expect(records).toHaveLength(11);
    expect(records[5]!.filter((c) => c !== '')).toEqual([iso(T0 - 6 * MIN), '7.4', '44', 'true']);
  });

  it('exports the metrics asked for in that order, empty cells for missing values, and aggregates', async () => {
    const res = await query('format=csv&metrics=loaded,motorCurrentA,anomaly&limit=2');
    expect(res.body).toBe(`ts,loaded,motorCurrentA,anomaly\r\n${iso(T0 - 10 * MIN)},true,40,\r\n${iso(T0 - 9 * MIN)},false,41,\r\n`);
    const agg = await query('format=csv&every=5m&fn=max&metrics=motorCurrentA');
    expect(agg.body).toBe(`ts,motorCurrentA\r\n${iso(T0 - 10 * MIN)},44\r\n${iso(T0 - 5 * MIN)},49\r\n`);
  });

  it('answers CSV to Accept: text/csv, JSON when the client also accepts JSON, and errors as JSON', async () => {
    const asCsv = await t.call('viewer', { method: 'GET', url: '/api/v1/devices/tc-1/telemetry?limit=1&metrics=motorCurrentA', headers: { accept: 'text/csv' } });
    expect(asCsv.headers['content-type']).toBe('text/csv; charset=utf-8');
    expect(asCsv.body).toBe(`ts,motorCurrentA\r\n${iso(T0 - 10 * MIN)},40\r\n`);
    // the next page's address asks for CSV itself and keeps the end this page resolved
    const link = /^<([^>]+)>; rel="next"$/.exec(asCsv.headers.link as string)![1]!;
    const u = new URL(link, 'http://x');
    expect([u.searchParams.get('format'), u.searchParams.get('to'), u.searchParams.get('from')]).toEqual(['csv', iso(T0), iso(T0 - 10 * MIN + 1)]);
    const second = await t.call('viewer', { method: 'GET', url: link });
    expect(second.body).toBe(`ts,motorCurrentA\r\n${iso(T0 - 9 * MIN)},41\r\n`);
    const both = await t.call('viewer', { method: 'GET', url: '/api/v1/devices/tc-1/telemetry?limit=1', headers: { accept: 'application/json, text/csv' } });
    expect(both.headers['content-type']).toBe('application/json; charset=utf-8');
    const forced = await t.call('viewer', { method: 'GET', url: '/api/v1/devices/tc-1/telemetry?limit=1&format=json', headers: { accept: 'text/csv' } });
    expect(forced.json.rows).toHaveLength(1);
    const bad = await query('format=csv&metrics=doorOpen');
    expect(bad.statusCode).toBe(400);
    expect(bad.json.code).toBe('FLEETDOC_ERR_VALIDATION');
    expect((await query('format=xml')).statusCode).toBe(400);
    expect((await query('format=csv', 'no-such-device')).statusCode).toBe(404);
    expect((await t.call(null, { method: 'GET', url: '/api/v1/devices/tc-1/telemetry?format=csv' })).statusCode).toBe(401);
  });

  it('pages a CSV export through its Link header, every row once, every page with the same columns', async () => {
    // without a metrics list the columns are the type's, so a metric that only later rows carry keeps its place
    await t.opsStore.registerDevices([{ type: 'air-compressor', id: 'tc-late' }]);
    await t.telemetryStore.write(
      Array.from({ length: 10 }, (_, i) => ({
        deviceId: 'tc-late', type: 'air-compressor', model: null, site: null, ts: T0 - (10 - i) * MIN,
        metrics: (i < 5 ? { motorCurrentA: 40 + i } : { oilTempC: 80 + i, motorCurrentA: 40 + i }) as Point['metrics'],
      })),
    );
    let url: string | null = `/api/v1/devices/tc-late/telemetry?format=csv&limit=4`;
    const seen: string[] = [];
    let pages = 0;
    while (url !== null && pages < 10) {
      const res = await t.call('viewer', { method: 'GET', url });
      expect(res.statusCode).toBe(200);
      const [header, ...rest] = res.body.trimEnd().split('\r\n');
      expect(header).toBe(`ts,${COMPRESSOR},anomalyScore,anomaly`);
      const at = header!.split(',').indexOf('motorCurrentA');
      const oil = header!.split(',').indexOf('oilTempC');
      for (const l of rest) expect(l.split(',')).toHaveLength(header!.split(',').length);
      seen.push(...rest.map((l) => `${l.split(',')[at]}/${l.split(',')[oil]}`));
      const link = res.headers.link as string | undefined;
      url = link ? /^<([^>]+)>; rel="next"$/.exec(link)![1]! : null;
      pages++;
    }
    expect(pages).toBe(3);
    expect(seen).toEqual(['40/', '41/', '42/', '43/', '44/', '45/85', '46/86', '47/87', '48/88', '49/89']);
  });

  it.each([
    ['from after to', `from=${T0}&to=${T0 - 1}`],
    ['from equal to to', `from=${T0}&to=${T0}`],
    ['from as words', 'from=yesterday'],
    ['to as a date with a bad month', 'to=2025-13-01'],
    ['from far beyond year 9999', 'from=8000000000000000'],
    ['fn without every', 'fn=max'],
    ['an unknown fn', 'every=5m&fn=median'],
    ['every as words', 'every=often'],
    ['every of zero', 'every=0s'],
    ['every with an unknown unit', 'every=5w'],
    ['limit 0', 'limit=0'],
    ['limit above 100,000', 'limit=100001'],
    ['a fractional limit', 'limit=1.5'],
    ['an empty metrics list', 'metrics=,'],
  ])('refuses %s with 400', async (_what, qs) => {
    const res = await query(qs);
    expect(res.statusCode).toBe(400);
    expect(res.json.code).toBe('FLEETDOC_ERR_VALIDATION');
  });
});

describe('events', () => {
  it('lists a device’s events newest first, filtered by time', async () => {
    await t.opsStore.addEvents([
      { deviceId: 'fr-1', ts: iso(T0 - 3 * MIN), kind: 'error', code: 'E17', message: 'door sensor', data: { door: 'left' } },
      { deviceId: 'fr-1', ts: iso(T0 - 2 * MIN), kind: 'state', code: null, message: 'defrost', data: null },
      { deviceId: 'fr-1', ts: iso(T0 - MIN), kind: 'info', code: null, message: 'ok', data: null },
      { deviceId: 'tc-1', ts: iso(T0 - MIN), kind: 'info', code: null, message: 'other device', data: null },
    ]);
    const all = await t.call('viewer', { method: 'GET', url: '/api/v1/devices/fr-1/events' });
    expect(all.statusCode).toBe(200);
    expect(all.json.map((e: { message: string }) => e.message)).toEqual(['ok', 'defrost', 'door sensor']);
    expect(all.json[2]).toMatchObject({ deviceId: 'fr-1', kind: 'error', code: 'E17', data: { door: 'left' }, ts: iso(T0 - 3 * MIN) });

    const window = await t.call('viewer', { method: 'GET', url: `/api/v1/devices/fr-1/events?from=${iso(T0 - 3 * MIN)}&to=${T0 - MIN}&limit=1` });
    expect(window.json.map((e: { message: string }) => e.message)).toEqual(['defrost']);

    expect((await t.call('viewer', { method: 'GET', url: '/api/v1/devices/nope/events' })).statusCode).toBe(404);
    expect((await t.call('viewer', { method: 'GET', url: '/api/v1/devices/fr-1/events?limit=-1' })).statusCode).toBe(400);
    expect((await t.call('viewer', { method: 'GET', url: `/api/v1/devices/fr-1/events?from=${T0}&to=${T0 - 1}` })).statusCode).toBe(400);
  });
});

describe('csv cells', () => {
  it('quotes what needs quoting and defuses spreadsheet formulas in strings, not in numbers', () => {
    expect(csvCell('plain')).toBe('plain');
    expect(csvCell('a,b')).toBe('"a,b"');
    // a spreadsheet that splits on ; or tab must not find a formula after one either
    expect(csvCell("x;=cmd|' /C calc'!A0")).toBe(`"x;=cmd|' /C calc'!A0"`);
    expect(csvCell('x\t=1')).toBe('"x\t=1"');
    expect(csvCell('say "hi"')).toBe('"say ""hi"""');
    expect(csvCell('two\nlines')).toBe('"two\nlines"');
    expect(csvCell(' padded')).toBe('" padded"');
    expect(csvCell('=HYPERLINK("http://x")')).toBe(`"'=HYPERLINK(""http://x"")"`);
    expect(csvCell('+1')).toBe("'+1");
    expect(csvCell('-2')).toBe("'-2");
    expect(csvCell('@SUM(A1)')).toBe("'@SUM(A1)");
    expect(csvCell(-2.5)).toBe('-2.5');
    expect(csvCell(0)).toBe('0');
    expect(csvCell(false)).toBe('false');
    expect(csvCell(null)).toBe('');
    expect(csvCell(undefined)).toBe('');
  });
});
