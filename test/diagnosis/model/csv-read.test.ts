/**
 * model:train reads a recording the way `npm run replay` reads it (ml/train_anomaly.py read_csv): the
 * separator detected from the header, header names trimmed, decimal commas with any separator but a comma,
 * rows without a readable time skipped with a warning, epoch µs, and a clear error where no number can be read.
 */
import { spawnSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it, onTestFinished } from 'vitest';
import { python } from './helpers.ts';
import { createReadStream } from 'node:fs';
import { readCsv } from '../../../simulator/replay/csv.ts';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

/** read_csv on one file of a type with metrics a (number) and b (number, or as `b` gives it); prints the samples and times. */
function read(file: string, timeColumn = 'time', b: Record<string, unknown> = { name: 'b', kind: 'number' }) {
  const script = [
    'import json, sys',
    "sys.path.insert(0, 'ml')",
    'from train_anomaly import read_csv',
    `t = {'name': 'x', 'metrics': [{'name': 'a', 'kind': 'number'}, json.loads(${JSON.stringify(JSON.stringify(b))})]}`,
    `devices, ignored, _ = read_csv([${JSON.stringify(file)}], t, None, ${JSON.stringify(timeColumn)}, None)`,
    'print(json.dumps({"samples": devices[0].samples, "ignored": ignored}))',
  ].join('\n');
  const r = spawnSync('python3', ['-c', script], { cwd: ROOT, encoding: 'utf8' });
  return { status: r.status, stderr: r.stderr, out: r.status === 0 ? (JSON.parse(r.stdout) as { samples: Array<Record<string, number>>; ignored: string[] }) : undefined };
}

/** A folder for one test's files, removed when it ends. */
async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'fleetdoc-csv-'));
  onTestFinished(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

describe('model:train reads CSVs as replay does', () => {
  it('", "-separated headers, tab-separated decimal commas, rows without a time, epoch µs', async () => {
    const dir = await tempDir();
    const spaced = join(dir, 'spaced.csv');
    await writeFile(spaced, 'time, a, b, note\n2025-01-01T00:00:00Z, 1.5, 2, x\n2025-01-01T00:00:01Z, 1.75, 3, y\n');
    expect(read(spaced).out).toEqual({ samples: [{ a: 1.5, b: 2 }, { a: 1.75, b: 3 }], ignored: ['note'] });

    const tab = join(dir, 'tab.csv');
    await writeFile(tab, 'time\ta\tb\n1735689600000000\t1,5\t1.234,5\n\t9\t9\nNaN\t9\t9\n1735689601000000\t2,5\t#N/A\n');
    const r = read(tab);
    expect(r.status, r.stderr).toBe(0);
    expect(r.out!.samples).toEqual([{ a: 1.5, b: 1234.5 }, { a: 2.5 }]);
    expect(r.stderr).toMatch(/2 rows without a readable time in column 'time' skipped \(first: line 3/);

    const words = join(dir, 'words.csv');
    await writeFile(words, 'time;a;b\n2025-01-01;high;low\n2025-01-02;ok;bad\n');
    const bad = read(words);
    expect(bad.status).toBe(2);
    expect(bad.stderr).toMatch(/no number could be read in the metric columns/);
  });
});

describe('line endings and encodings', () => {
  it('a lone CR ends a row and a file that is not UTF-8 is read in the Windows code page, as replay reads them', async () => {
    const dir = await tempDir();
    const cr = join(dir, 'cr.csv');
    await writeFile(cr, 'time,a,b\r2025-01-01T00:00:00Z,1,2\r2025-01-01T00:00:01Z,3,4\r');
    expect(read(cr).out).toEqual({ samples: [{ a: 1, b: 2 }, { a: 3, b: 4 }], ignored: [] });
    const latin = join(dir, 'latin.csv');
    await writeFile(latin, Buffer.from('time;a;Temperatur \xb0C\r\n2025-01-01T00:00:00Z;1,5;20\r\n', 'latin1'));
    expect(read(latin).out).toEqual({ samples: [{ a: 1.5 }], ignored: ['Temperatur °C'] });
  });

  it('a file that turns non-UTF-8 past its first 64 KiB is refused by both, naming the same line', async () => {
    const dir = await tempDir();
    for (const eol of ['\n', '\r']) {
      const lines = ['time,a,b', ...Array.from({ length: 3000 }, (_, i) => `2025-01-01T00:00:${String(i % 60).padStart(2, '0')}Z,${i},${i % 7}`)];
      const bad = join(dir, `late${eol === '\n' ? 'lf' : 'cr'}.csv`);
      // line 2901 (a Windows-1252 degree sign), well past the first 64 KiB
      await writeFile(bad, Buffer.concat([Buffer.from(lines.slice(0, 2900).join(eol) + eol, 'utf8'), Buffer.from(`x,\xb0,1${eol}`, 'latin1'), Buffer.from(lines.slice(2901).join(eol) + eol, 'utf8')]));
      const py = read(bad);
      expect(py.status).toBe(2);
      expect(py.stderr).toMatch(/line 2901: the file began as UTF-8 and is not UTF-8 here/);
      const replay = async () => {
        for await (const _ of readCsv(createReadStream(bad))) void _;
      };
      await expect(replay()).rejects.toThrow(/^line 2901: the file began as UTF-8 and is not UTF-8 here/);
    }
  });
});

describe('--map', () => {
  it('model:train and replay split it alike: a column with a comma or a quote in double quotes, the metric after the last =', async () => {
    const { parseColumnMap } = await import('../../../simulator/replay/csv.ts');
    const maps = [
      'Oil temp=oilTempC,Druck bar=pressureBar',
      '"Pressure [bar, g]"=pressureBar, Flow=flowRate',
      '"Say ""hi"", then"=oilTempC',
      'a=b=oilTempC,,',
      '"x,y"=pressureBar,"z"=flowRate',
    ];
    const ts = maps.map((m) => Object.fromEntries(parseColumnMap(m)));
    const py = python([
      'from train_anomaly import parse_map',
      "t = {'name': 'x', 'metrics': [{'name': n} for n in ('oilTempC', 'pressureBar', 'flowRate')]}",
      `print(json.dumps([parse_map(m, t) for m in ${JSON.stringify(maps)}]))`,
    ]);
    expect(py).toEqual(ts);
    expect(ts[1]).toEqual({ 'Pressure [bar, g]': 'pressureBar', Flow: 'flowRate' });
    expect(ts[2]).toEqual({ 'Say "hi", then': 'oilTempC' });
    expect(ts[3]).toEqual({ 'a=b': 'oilTempC' });
    expect(() => parseColumnMap('=oilTempC')).toThrow('--map expects column=metric, got =oilTempC');
  });
});

describe('row order', () => {
  it('training reads a recording in time order; an experiment judged offline keeps the file order replay sends it in', async () => {
    const dir = await tempDir();
    const file = join(dir, 'shuffled.csv');
    await writeFile(file, 'time,a\n2025-01-01T00:00:02Z,3\n2025-01-01T00:00:00Z,1\n2025-01-01T00:00:01Z,2\n');
    expect(
      python([
        'from train_anomaly import read_csv',
        "t = {'name': 'x', 'metrics': [{'name': 'a', 'kind': 'number'}]}",
        `args = ([${JSON.stringify(file)}], t, None, 'time', None)`,
        'print(json.dumps([[s["a"] for s in read_csv(*args)[0][0].samples], [s["a"] for s in read_csv(*args, in_time_order=False)[0][0].samples]]))',
      ]),
    ).toEqual([
      [1, 2, 3],
      [3, 1, 2],
    ]);
  });
});

describe('model:train leaves out what ingest would refuse', () => {
  it('a row with a value outside the type’s declared range is not trained on, and the warning counts them per metric', async () => {
    const dir = await tempDir();
    const file = join(dir, 'range.csv');
    await writeFile(file, 'time,a,b\n2025-01-01T00:00:00Z,1,-0.5\n2025-01-01T00:00:01Z,2,0\n2025-01-01T00:00:02Z,3,1.5\n2025-01-01T00:00:03Z,4,\n');
    const r = read(file, 'time', { name: 'b', kind: 'number', min: -0.2, max: 1, unit: 'kPa' });
    expect(r.status, r.stderr).toBe(0);
    // ingest refuses the whole sample, so the row's a goes too; a missing b is no refusal
    expect(r.out!.samples).toEqual([{ a: 2, b: 0 }, { a: 4 }]);
    expect(r.stderr).toMatch(/2 rows left out, as ingest would refuse them for a value outside the type's declared range: b 2 \(\[-0\.2, 1\]\)/);
    // a row with a time but nothing measured is not a sample (replay sends none)
    const empty = join(dir, 'empty.csv');
    await writeFile(empty, 'time,a,b\n2025-01-01T00:00:00Z,1,0\n2025-01-01T00:00:01Z,,\n2025-01-01T00:00:02Z,NA,\n2025-01-01T00:00:03Z,4,0.5\n');
    const e = read(empty);
    expect(e.out!.samples).toEqual([{ a: 1, b: 0 }, { a: 4, b: 0.5 }]);
    expect(e.stderr).toMatch(/2 rows with a time but no readable metric value left out/);
    // a string outside its declared values is refused the same way
    const words = join(dir, 'words.csv');
    await writeFile(words, 'time,a,b\n2025-01-01T00:00:00Z,1,run\n2025-01-01T00:00:01Z,2,jump\n2025-01-01T00:00:02Z,3,NA\n');
    const w = read(words, 'time', { name: 'b', kind: 'string', values: ['run', 'stop'] });
    // a missing-value word is no value, as replay reads it: the row stays
    expect(w.out!.samples).toEqual([{ a: 1, b: 'run' }, { a: 3 }]);
    expect(w.stderr).toMatch(/1 row left out.*b 1 \(one of run, stop\)/);
    // a boolean has no range at ingest, whatever its declaration says
    const bits = join(dir, 'bits.csv');
    await writeFile(bits, 'time,a,b\n2025-01-01T00:00:00Z,1,true\n2025-01-01T00:00:01Z,2,false\n');
    expect(read(bits, 'time', { name: 'b', kind: 'boolean', min: 0.5, max: 0.5 }).out!.samples).toEqual([{ a: 1, b: 1 }, { a: 2, b: 0 }]);
    // when nothing is left, the error says why
    const none = read(bits, 'time', { name: 'b', kind: 'string', values: [] });
    expect(none.status).toBe(2);
    expect(none.stderr).toMatch(/every row was left out: 0 with nothing measured, 2 with a value ingest would refuse/);
  });
});

describe('training reads times exactly as replay does', () => {
  it('every format, edge and refusal of parseTimestamp gives the same epoch ms in ml/train_anomaly.py parse_time', async () => {
    const { parseTimestamp } = await import('../../../simulator/replay/timestamps.ts');
    const cells = [
      '2025-06-01T10:00:00Z', '2025-06-01T10:00:00z', '2025-06-01 9:05:00', '2025-06-01T10:00:60Z', '2025-06-01T10:00:00.5+02:00',
      '2025-06-01T10:00:00,123456789-0330', '2025-06-01', '2025-06-01T10', '20250601T100000', '2025-W22-1', '2025-02-30T00:00:00Z',
      '01.06.2025 10:00', '1.6.2025 10:00:05.5', '06/01/2025 10:00:00 PM', '06/01/2025 12:00 AM', '06/01/2025 13:00 PM', '2025/6/1 10:00',
      '1748772000', '1748772000.25', '1748772000000', '1748772000000000', '1748772000000000000', '-5', '0.0', '', 'NaN', 'yesterday',
    ];
    const script = ['import json, sys', "sys.path.insert(0, 'ml')", 'from train_anomaly import parse_time', `print(json.dumps([parse_time(c) for c in json.loads(sys.argv[1])]))`].join('\n');
    const r = spawnSync('python3', ['-c', script, JSON.stringify(cells)], { cwd: ROOT, encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    const py = JSON.parse(r.stdout) as Array<number | null>;
    expect(Object.fromEntries(cells.map((c, i) => [c, py[i]]))).toEqual(Object.fromEntries(cells.map((c) => [c, parseTimestamp(c) ?? null])));
  });
});

describe('training reads cells exactly as replay does', () => {
  it('numbers, integers and booleans: the same value or the same refusal in ml/train_anomaly.py cell_value', async () => {
    const { parseValue } = await import('../../../simulator/replay/replay.ts');
    const cells = ['1', '1.5', '-1,5', '1.234,5', '1,234.5', '+1e3', '1E+03', '.5', '5.', '0x10', '1_000', '٣', ' 7 ', '0.5', '1.0', '0.0', 'yes', 'Y', 'off', 'T', 'abc', '#N/A', 'inf', 'NaN', '', '5 %'];
    const kinds = ['number', 'integer', 'boolean'] as const;
    for (const sep of [';', ',']) {
      const ts = kinds.flatMap((kind) => cells.map((c) => {
        const r = parseValue(c, { name: 'm', kind }, sep);
        return r.ok && r.value !== undefined ? Number(r.value) : null;
      }));
      const script = ['import json, math, sys', "sys.path.insert(0, 'ml')", 'from train_anomaly import cell_value',
        'cells, kinds, sep = json.loads(sys.argv[1])',
        'print(json.dumps([None if math.isnan(x) else x for k in kinds for x in (cell_value(c, k, sep) for c in cells)]))'].join('\n');
      const r = spawnSync('python3', ['-c', script, JSON.stringify([cells, kinds, sep])], { cwd: ROOT, encoding: 'utf8' });
      expect(r.status, r.stderr).toBe(0);
      const py = JSON.parse(r.stdout) as Array<number | null>;
      const label = (i: number) => `${kinds[Math.floor(i / cells.length)]} ${JSON.stringify(cells[i % cells.length])} sep ${sep}`;
      expect(Object.fromEntries(py.map((x, i) => [label(i), x]))).toEqual(Object.fromEntries(ts.map((x, i) => [label(i), x])));
    }
  });
});

describe('model:train tells a counter from a level', () => {
  it('a meter whose readings carry noise is still a counter (its increments are the feature); a level that rises and falls is not', () => {
    expect(
      python([
        'from fleetdoc_ml.train import Device, choose_features',
        'rng = np.random.default_rng(0)',
        'n = 3000',
        'meter = np.cumsum(rng.uniform(0, 2, n)) + rng.normal(0, 3, n)',
        'hours = np.arange(n) / 360.0',
        'temp = 50 + 5 * np.sin(np.arange(n) / 200) + rng.normal(0, 1, n)',
        'climb = np.linspace(0, 10, n) + rng.normal(0, 1, n)',
        "t = {'name': 'x', 'metrics': [{'name': m, 'kind': 'number', 'min': 0} for m in ('energyWh', 'runHours', 'tempC', 'levelMm')]}",
        "d = Device('d', [{'energyWh': float(a), 'runHours': float(b), 'tempC': float(c), 'levelMm': float(e)} for a, b, c, e in zip(meter, hours, temp, climb)])",
        'print(json.dumps(sorted(f["name"] for f in choose_features(t, [d]))))',
      ]),
    ).toEqual(['energyWh.delta', 'levelMm.level', 'levelMm.slope', 'runHours.delta', 'tempC.level', 'tempC.slope']);
  });

  it('an idle meter, or one with two readings, beside a running one does not turn the meter into a level; a reset does', () => {
    expect(
      python([
        'from fleetdoc_ml.train import Device, choose_features',
        'rng = np.random.default_rng(0)',
        'n = 3000',
        "t = {'name': 'x', 'metrics': [{'name': 'energyWh', 'kind': 'number', 'min': 0}]}",
        "dev = lambda a: Device('d', [{'energyWh': float(x)} for x in a])",
        'running = np.cumsum(rng.uniform(0, 2, n)) + rng.normal(0, 3, n)',
        'idle = 5000 + rng.normal(0, 3, n)',
        'reset = np.r_[running[: n // 2], running[: n // 2]]',
        'names = lambda devs: sorted(f["name"] for f in choose_features(t, devs))',
        'print(json.dumps([names([dev(running), dev(idle)]), names([dev(running), dev(np.array([7.0, 8.0]))]), names([dev(reset)])]))',
      ]),
    ).toEqual([['energyWh.delta'], ['energyWh.delta'], ['energyWh.level', 'energyWh.slope']]);
  });

  it('a type may declare it: counter true for a meter whose noise hides its rise, false for a level that only rises', () => {
    expect(
      python([
        'from fleetdoc_ml.train import Device, choose_features',
        'rng = np.random.default_rng(0)',
        'n = 2000',
        // a rise of 3 against a noise of 0.5: no data rule tells it from a level; a warming-up temperature, rising steadily
        'meter = np.cumsum(rng.uniform(0, 0.003, n)) + rng.normal(0, 0.5, n)',
        'warm = 20 + 30 * (1 - np.exp(-np.arange(n) / 500.0))',
        "m = lambda name, **kw: {'name': name, 'kind': 'number', 'min': 0, **kw}",
        "d = Device('d', [{'energyWh': float(a), 'waterC': float(b)} for a, b in zip(meter, warm)])",
        "auto = choose_features({'name': 'x', 'metrics': [m('energyWh'), m('waterC')]}, [d])",
        "said = choose_features({'name': 'x', 'metrics': [m('energyWh', counter=True), m('waterC', counter=False)]}, [d])",
        'print(json.dumps([sorted(f["name"] for f in auto), sorted(f["name"] for f in said)]))',
      ]),
    ).toEqual([
      ['energyWh.level', 'energyWh.slope', 'waterC.delta'],
      ['energyWh.delta', 'waterC.level', 'waterC.slope'],
    ]);
  });

  it('training judges that on the whole recording, not on the pseudo-devices cut from it (a short one rises by less than the noise)', { timeout: 120_000 }, () => {
    expect(
      python([
        'from train_anomaly import train',
        'from fleetdoc_ml.train import Device',
        'rng = np.random.default_rng(2)',
        'n = 20000',
        'meter = 1e6 + np.cumsum(rng.uniform(0, 0.03, n)) + rng.normal(0, 0.5, n)',
        'load = 0.5 + 0.3 * np.sin(np.arange(n) / 50)',
        "t = {'name': 'x', 'metrics': [{'name': 'energyWh', 'kind': 'number', 'min': 0}, {'name': 'currentA', 'kind': 'number'}]}",
        "d = Device('d', [{'energyWh': float(a), 'currentA': float(10 * b + rng.normal())} for a, b in zip(meter, load)])",
        'card, _, _ = train(t, [d], 200)',
        'print(json.dumps([f["name"] for f in card["features"]]))',
      ]),
    ).toEqual(['energyWh.delta', 'currentA.level', 'currentA.slope']);
  });
});
