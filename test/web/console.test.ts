/**
 * The service console in a real Chromium (Debian's, driven by playwright-core)
 * against a real api over real stores: the device list, a device's telemetry
 * charted with the anomaly model's flags and a diagnosis marked, the
 * crosshair readout, the CSV download, a narrower range, a wrong key.
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Point } from '../../core/domain/telemetry.ts';
import { startTestApi, T0, type TestApi } from '../api/helpers.ts';

const CHROMIUM = '/usr/bin/chromium';
const MIN = 60_000;
const N = 600;
const BIG = 150_000;
const START = T0 - N * MIN;
const RUNS: Array<[number, number]> = [
  [100, 120],
  [300, 350],
  [500, 505],
];
const iso = (ms: number) => new Date(ms).toISOString();
const flagged = (i: number) => RUNS.some(([a, b]) => i >= a && i < b);

let t: TestApi;
let browser: Browser;
let base: string;
const problems: string[] = [];

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: apt-get install chromium (.ci/run does)`);
  t = await startTestApi();
  await t.opsStore.registerDevices([
    { type: 'air-compressor', id: 'web-1', site: 'Hall 3' },
    { type: 'refrigerator', id: 'web-2', site: '<img src=x onerror="window.pwned=1">' },
  ]);
  const points: Point[] = Array.from({ length: N }, (_, i) => ({
    deviceId: 'web-1',
    type: 'air-compressor',
    model: null,
    site: null,
    ts: START + i * MIN,
    metrics: { dischargePressureBar: 7 + Math.sin(i / 20), motorCurrentA: 40 + (i % 50), loaded: i % 2 === 0, anomalyScore: i / N, anomaly: flagged(i) ? 1 : 0 },
  }));
  await t.telemetryStore.write(points);
  // a long history whose oil temperature only begins in its last third (the CSV's second page)
  await t.opsStore.registerDevices([{ type: 'air-compressor', id: 'web-big' }]);
  const BIG_START = T0 - BIG * 1000;
  for (let k = 0; k < BIG; k += 10_000) {
    await t.telemetryStore.write(
      Array.from({ length: 10_000 }, (_, j) => ({
        deviceId: 'web-big', type: 'air-compressor', model: null, site: null, ts: BIG_START + (k + j) * 1000,
        metrics: (k + j >= 100_000 ? { motorCurrentA: 40, oilTempC: 80 } : { motorCurrentA: 40 }) as Point['metrics'],
      })),
    );
  }
  const raisedAt = iso(START + 310 * MIN);
  await t.opsStore.addDiagnoses([
    {
      id: 'dg-web-1',
      deviceId: 'web-1',
      type: 'air-compressor',
      fault: 'ac-air-leak',
      status: 'active',
      severity: 'warning',
      confidence: 0.8,
      source: 'rules',
      evidence: { rules: [], model: null, telemetry: { from: iso(START), to: raisedAt, metrics: [] } },
      remedy: { class: 'owner', summary: 'find the leak' },
      raisedAt,
      clearedAt: null,
      createdAt: raisedAt,
    },
  ]);
  await t.api.start();
  base = `http://127.0.0.1:${t.api.address().port}`;
  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--headless', '--no-sandbox'] });
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await t?.close();
});

async function newPage(): Promise<Page> {
  const page = await browser.newPage({ viewport: { width: 1100, height: 1000 }, acceptDownloads: true });
  page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error') problems.push(`console: ${m.text()}`);
  });
  return page;
}

async function useKey(page: Page, key: string): Promise<void> {
  await page.fill('#api-key', key);
  await page.click('#key-form button');
}

describe('console', () => {
  it('lists devices once given a key, showing device text as text', async () => {
    const page = await newPage();
    await page.goto(`${base}/console/`);
    await expect.poll(() => page.textContent('#status')).toContain('Enter an API key');
    await useKey(page, t.keys.viewer);
    await page.waitForSelector('#devices tbody tr');
    const ids = await page.$$eval('#devices tbody tr td:first-child a', (as) => as.map((a) => [a.textContent, a.getAttribute('href')]));
    expect(ids).toEqual([
      ['web-1', '/console/devices/web-1'],
      ['web-2', '/console/devices/web-2'],
      ['web-big', '/console/devices/web-big'],
    ]);
    // a site name with markup stays text: no element made from it (the policy would block its script anyway)
    expect(await page.$$eval('#devices tbody tr', (trs) => trs[1]!.children[2]!.textContent)).toBe('<img src=x onerror="window.pwned=1">');
    expect(await page.$$('#devices img')).toHaveLength(0);
    expect(await page.evaluate(() => (globalThis as unknown as { pwned?: number }).pwned)).toBeUndefined();
    expect(await page.textContent('#status')).toBe('3 devices');
    await page.close();
  });

  it('charts a device: a panel per metric with data, flagged samples shaded, the diagnosis marked, a readout under the mouse', async () => {
    const page = await newPage();
    await page.goto(`${base}/console/`);
    await useKey(page, t.keys.viewer);
    await page.click('a[href="/console/devices/web-1"]');
    await expect.poll(() => page.textContent('#status'), { timeout: 15_000 }).toBe(`${N} samples, 75 flagged anomalous, 1 diagnoses`);
    expect(await page.$$eval('svg.panel', (ps) => ps.map((p) => p.getAttribute('data-metric')))).toEqual(['dischargePressureBar', 'motorCurrentA', 'loaded', 'anomalyScore', 'anomaly']);
    // metrics of the type without data are offered but not drawn
    expect(await page.$eval('label[for="m-oilTempC"]', (l) => l.className)).toBe('no-data');

    const width = Number(await page.$eval('svg.panel', (s) => s.getAttribute('width')));
    const plotW = width - 64 - 12;
    const span = N * MIN; // first sample to last + one interval
    const spans = await page.$$eval('svg.panel[data-metric="motorCurrentA"] rect.anomaly-span', (rs) => rs.map((r) => [Number(r.getAttribute('x')), Number(r.getAttribute('width'))]));
    expect(spans).toHaveLength(RUNS.length);
    RUNS.forEach(([a, b], k) => {
      expect(Math.abs(spans[k]![0]! - (a * MIN * plotW) / span)).toBeLessThanOrEqual(1);
      expect(Math.abs(spans[k]![0]! + spans[k]![1]! - (b * MIN * plotW) / span)).toBeLessThanOrEqual(1.5);
    });
    expect(await page.$$eval('line.diagnosis-marker', (ls) => ls.map((l) => l.getAttribute('data-fault')))).toEqual(Array(5).fill('ac-air-leak'));
    const markerX = Number(await page.$eval('svg.panel line.diagnosis-marker', (l) => l.getAttribute('x1')));
    expect(Math.abs(markerX - (310 * MIN * plotW) / span)).toBeLessThan(0.01);
    expect((await page.textContent('#diagnoses tbody'))!).toContain('ac-air-leak');

    // one line per panel, at most four points per pixel column, reaching the data's extremes
    const paths = await page.$$eval('svg.panel[data-metric="anomalyScore"] path.series', (ps) => ps.map((p) => Number(p.getAttribute('data-points'))));
    expect(paths).toHaveLength(1);
    expect(paths[0]!).toBeGreaterThan(plotW / 2);
    expect(paths[0]!).toBeLessThanOrEqual(4 * plotW);

    // the mouse over sample 300 reads its values
    const box = (await page.$('svg.panel[data-metric="motorCurrentA"]'))!;
    const at = (300 * MIN * plotW) / span + 64;
    await box.hover({ position: { x: at, y: 60 } });
    await expect.poll(() => page.textContent('#readout')).toContain(`${iso(START + 300 * MIN)}  dischargePressureBar ${Number((7 + Math.sin(15)).toPrecision(4))} bar`);
    expect(await page.textContent('#readout')).toContain('motorCurrentA 40 A · loaded 1 · anomalyScore 0.5 · anomaly 1');
    expect(await page.$eval('svg.panel[data-metric="anomaly"] line.crosshair', (l) => l.getAttribute('visibility'))).toBe('visible');

    // unticking a metric redraws without it and keeps the choice in the address
    await page.uncheck('#m-loaded');
    expect(await page.$$eval('svg.panel', (ps) => ps.map((p) => p.getAttribute('data-metric')))).toEqual(['dischargePressureBar', 'motorCurrentA', 'anomalyScore', 'anomaly']);
    expect(new URL(page.url()).searchParams.get('metrics')).toBe('dischargePressureBar,motorCurrentA,anomalyScore,anomaly');
    await page.close();
  });

  it('downloads what it shows as CSV, the same file the API exports, and narrows the range', async () => {
    const page = await newPage();
    await page.goto(`${base}/console/devices/web-1?metrics=motorCurrentA,anomaly`);
    await useKey(page, t.keys.viewer);
    await expect.poll(() => page.textContent('#status'), { timeout: 15_000 }).toContain(`${N} samples`);
    expect(await page.$$eval('svg.panel', (ps) => ps.map((p) => p.getAttribute('data-metric')))).toEqual(['motorCurrentA', 'anomaly']);
    const [download] = await Promise.all([page.waitForEvent('download'), page.click('#download-csv')]);
    expect(download.suggestedFilename()).toBe('web-1-telemetry.csv');
    const file = await readFile((await download.path())!, 'utf8');
    const api = await t.call('viewer', { method: 'GET', url: '/api/v1/devices/web-1/telemetry?format=csv&metrics=motorCurrentA,anomaly' });
    expect(file).toBe(api.body);
    expect(file.split('\r\n')).toHaveLength(N + 2);

    await page.fill('#from', iso(START + 100 * MIN));
    await page.fill('#to', iso(START + 160 * MIN));
    await page.click('#show');
    await expect.poll(() => page.textContent('#status')).toBe('60 samples, 20 flagged anomalous, 0 diagnoses');
    expect(await page.$$('svg.panel[data-metric="anomaly"] rect.anomaly-span')).toHaveLength(1);
    const [narrow] = await Promise.all([page.waitForEvent('download'), page.click('#download-csv')]);
    expect((await readFile((await narrow.path())!, 'utf8')).split('\r\n')).toHaveLength(60 + 2);
    await page.close();
  });

  it('reads a range typed without a zone as the API does, whatever the browser’s zone', async () => {
    const page = await browser.newPage({ viewport: { width: 1100, height: 1000 }, timezoneId: 'Europe/Berlin' });
    await page.goto(`${base}/console/devices/web-1?metrics=motorCurrentA`);
    await useKey(page, t.keys.viewer);
    await expect.poll(() => page.textContent('#status'), { timeout: 15_000 }).toContain(`${N} samples`);
    // 05:00-06:00 UTC, the server's reading: samples 180-239 of START (02:00 UTC)
    await page.fill('#from', '2025-06-01T05:00');
    await page.fill('#to', '2025-06-01T06:00');
    await page.click('#show');
    await expect.poll(() => page.textContent('#status')).toBe('60 samples, 0 flagged anomalous, 0 diagnoses');
    expect(await page.$eval('svg.panel path.series', (p) => Number(p.getAttribute('data-points')))).toBe(60);
    expect(await page.$eval('svg.time-axis text', (x) => x.textContent)).toBe('2025-06-01 05:00:00');
    await page.close();
  });

  it('downloads a history of more than one API page as one file with one header and the same columns throughout', async () => {
    const page = await newPage();
    await page.goto(`${base}/console/devices/web-big?metrics=motorCurrentA,oilTempC`);
    await useKey(page, t.keys.viewer);
    await expect.poll(() => page.textContent('#status'), { timeout: 60_000 }).toBe(`${BIG} samples, 0 diagnoses`);
    const [download] = await Promise.all([page.waitForEvent('download', { timeout: 60_000 }), page.click('#download-csv')]);
    const lines = (await readFile((await download.path())!, 'utf8')).split('\r\n');
    expect(lines).toHaveLength(BIG + 2);
    // the ticked metrics in the type's order
    expect(lines[0]).toBe('ts,oilTempC,motorCurrentA');
    expect(lines.filter((l) => l.startsWith('ts,'))).toHaveLength(1);
    expect(lines[100_000]!.split(',').slice(1)).toEqual(['', '40']);
    expect(lines[100_001]!.split(',').slice(1)).toEqual(['80', '40']);
    // nothing ticked: nothing to download, and it says so
    await page.uncheck('#m-motorCurrentA');
    await page.uncheck('#m-oilTempC');
    await page.click('#download-csv');
    expect(await page.textContent('#status')).toBe('Tick the metrics to download.');
    await page.close();
  }, 120_000);

  it('says so when the key is refused or the device is unknown', async () => {
    const page = await newPage();
    await page.goto(`${base}/console/devices/web-1`);
    await useKey(page, 'fd_not-a-key');
    await expect.poll(() => page.getAttribute('#status', 'class')).toBe('error');
    expect(await page.textContent('#status')).toMatch(/^401 .*check the API key\.$/);
    await page.goto(`${base}/console/devices/nope`);
    await useKey(page, t.keys.viewer);
    await expect.poll(() => page.textContent('#status')).toMatch(/^404 /);
    await page.close();
  });

  it('raised no script error and no Content Security Policy violation on any page', () => {
    expect(problems.filter((p) => !/status of 40[14]/.test(p))).toEqual([]);
  });

  it('serves the page with a strict policy and the bundled script', async () => {
    const res = await fetch(`${base}/console/devices/web-1`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-security-policy')).toContain("script-src 'self'");
    expect(res.headers.get('content-security-policy')).toContain("default-src 'none'");
    const js = await fetch(`${base}/console/assets/console.js`);
    expect(js.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
    expect(await js.text()).toContain('/api/v1');
  });
});
