/**
 * The service console (served by the api at /console/): the device list, and
 * a device's telemetry charted — one panel per metric, the samples the
 * anomaly model flagged shaded, its diagnoses marked — with a CSV download
 * of what is shown. Talks only to /api/v1 with the key the user gives (kept
 * in this tab's sessionStorage). Builds the DOM with textContent only.
 */
import { formatValue, nearest, seriesOf, timesOf, typicalInterval, type Row } from './chart.ts';
import { M, drawPanel, timeAxis, type Mark } from './panels.ts';

const API = '/api/v1';
const KEY = 'fleetdoc.apiKey';
/** Rows a chart loads at most (two full pages of the telemetry API); narrow the range for more detail. */
const MAX_ROWS = 200_000;
const DERIVED = ['anomalyScore', 'anomaly'];
const DIAGNOSES_SHOWN = 1000;

interface MetricDef {
  name: string;
  unit: string;
  kind: 'number' | 'integer' | 'boolean' | 'string';
}
interface Diagnosis extends Mark {
  id: string;
  confidence: number;
  clearedAt: string | null;
}

class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

function el<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Record<string, string> = {}, ...children: Array<Node | string>): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  e.append(...children);
  return e;
}

function status(text: string, isError = false): void {
  const s = document.getElementById('status')!;
  s.textContent = text;
  s.className = isError ? 'error' : '';
}

async function call(path: string, accept = 'application/json'): Promise<Response> {
  const key = sessionStorage.getItem(KEY);
  if (!key) throw new ApiError(401, 'Enter an API key (viewer or above) above.');
  const res = await fetch(API + path, { headers: { authorization: `Bearer ${key}`, accept } });
  if (!res.ok) {
    let message = `${res.status} ${res.statusText}`;
    try {
      const body = (await res.json()) as { message?: string };
      if (body.message) message += `: ${body.message}`;
    } catch {
      /* not JSON */
    }
    throw new ApiError(res.status, res.status === 401 || res.status === 403 ? `${message} — check the API key.` : message);
  }
  return res;
}

const getJson = async <T>(path: string): Promise<T> => (await call(path)).json() as Promise<T>;

function setupKeyForm(onKey: () => void): void {
  const form = document.getElementById('key-form') as HTMLFormElement;
  const input = document.getElementById('api-key') as HTMLInputElement;
  input.value = sessionStorage.getItem(KEY) ?? '';
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const v = input.value.trim();
    if (v) sessionStorage.setItem(KEY, v);
    else sessionStorage.removeItem(KEY);
    onKey();
  });
}

// ---------------------------------------------------------------- device list

async function showDeviceList(main: HTMLElement): Promise<void> {
  main.replaceChildren(el('h1', {}, 'Devices'));
  const { items, total } = await getJson<{ items: Array<{ id: string; type: string; status: string; online: boolean; site: string | null; lastSeenAt: string | null }>; total: number }>(
    '/devices?limit=1000',
  );
  const table = el('table', { id: 'devices' }, el('thead', {}, el('tr', {}, ...['device', 'type', 'site', 'status', 'online', 'last seen'].map((h) => el('th', {}, h)))));
  const body = el('tbody');
  for (const d of items) {
    body.append(
      el(
        'tr',
        {},
        el('td', {}, el('a', { href: `/console/devices/${encodeURIComponent(d.id)}` }, d.id)),
        el('td', {}, d.type),
        el('td', {}, d.site ?? ''),
        el('td', {}, d.status),
        el('td', {}, d.online ? 'yes' : 'no'),
        el('td', {}, d.lastSeenAt ?? ''),
      ),
    );
  }
  table.append(body);
  main.append(table);
  status(items.length < total ? `${items.length} of ${total} devices` : `${total} devices`);
}

// ---------------------------------------------------------------- device page

interface View {
  metrics: string[] | null;
  from: string;
  to: string;
}

function viewFromUrl(): View {
  const q = new URLSearchParams(location.search);
  const m = q.get('metrics');
  return { metrics: m ? m.split(',').filter(Boolean) : null, from: q.get('from') ?? '', to: q.get('to') ?? '' };
}

function rangeQuery(v: View): string {
  const q = new URLSearchParams();
  if (v.from) q.set('from', v.from);
  if (v.to) q.set('to', v.to);
  return q.toString();
}

interface Loaded {
  rows: Row[];
  truncated: boolean;
  /** The range as the API read it (epoch ms): a time typed without a zone is the server's reading, not the browser's. */
  from: number;
  to: number;
}

async function loadRows(id: string, v: View): Promise<Loaded> {
  const rows: Row[] = [];
  let from = v.from;
  let range: { from: number; to: number } | null = null;
  for (;;) {
    const q = new URLSearchParams(rangeQuery({ ...v, from }));
    if (range) q.set('to', String(range.to)); // later pages end where the first did
    q.set('limit', String(Math.min(100_000, MAX_ROWS - rows.length)));
    const page = await getJson<{ rows: Row[]; next: string | null; from: string; to: string }>(`/devices/${encodeURIComponent(id)}/telemetry?${q}`);
    range ??= { from: Date.parse(page.from), to: Date.parse(page.to) };
    rows.push(...page.rows);
    if (page.next === null) return { rows, truncated: false, ...range };
    if (rows.length >= MAX_ROWS) return { rows, truncated: true, ...range };
    from = page.next;
  }
}

async function downloadCsv(id: string, metrics: string[], v: View): Promise<void> {
  const q = new URLSearchParams(rangeQuery(v));
  q.set('format', 'csv');
  if (metrics.length) q.set('metrics', metrics.join(','));
  let url: string | null = `/devices/${encodeURIComponent(id)}/telemetry?${q}`;
  const parts: string[] = [];
  while (url !== null) {
    const res = await call(url, 'text/csv');
    const text = await res.text();
    // every page repeats the header line; keep the first
    parts.push(parts.length ? text.slice(text.indexOf('\r\n') + 2) : text);
    const next = /^<([^>]+)>; rel="next"$/.exec(res.headers.get('link') ?? '');
    url = next ? next[1]!.slice(API.length) : null;
  }
  const href = URL.createObjectURL(new Blob(parts, { type: 'text/csv' }));
  const a = el('a', { href, download: `${id}-telemetry.csv` });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(href), 60_000);
}

async function showDevice(main: HTMLElement, id: string): Promise<void> {
  status('loading…');
  const device = await getJson<{ id: string; type: string; status: string; online: boolean; site: string | null; lastSeenAt: string | null }>(`/devices/${encodeURIComponent(id)}`);
  const type = await getJson<{ name: string; displayName: string; metrics: MetricDef[] }>(`/device-types/${encodeURIComponent(device.type)}`);
  const units = new Map(type.metrics.map((m) => [m.name, m.unit]));
  const chartable = [...type.metrics.filter((m) => m.kind !== 'string').map((m) => m.name), ...DERIVED];

  let view = viewFromUrl();
  const head = el(
    'p',
    { class: 'device-head' },
    `${type.displayName} · ${device.status} · ${device.online ? 'online' : 'offline'}${device.site ? ` · ${device.site}` : ''}${device.lastSeenAt ? ` · last seen ${device.lastSeenAt}` : ''}`,
  );
  const from = el('input', { id: 'from', type: 'text', placeholder: 'from: ISO 8601 (blank: all)', value: view.from });
  const to = el('input', { id: 'to', type: 'text', placeholder: 'to: ISO 8601 (blank: now)', value: view.to });
  const boxes = el('fieldset', { id: 'metrics' }, el('legend', {}, 'metrics'));
  const show = el('button', { id: 'show', type: 'submit' }, 'Show');
  const download = el('button', { id: 'download-csv', type: 'button' }, 'Download CSV');
  const controls = el('form', { id: 'controls' }, boxes, el('div', { class: 'range' }, from, to, show, download));
  const charts = el('div', { id: 'charts' });
  const readout = el('p', { id: 'readout' }, '\u00a0');
  const diagnoses = el('section', { id: 'diagnoses' });
  main.replaceChildren(el('h1', {}, device.id), head, controls, readout, charts, diagnoses);

  let rows: Row[] = [];
  let marks: Diagnosis[] = [];
  /** The range the charts show, as the API read it. */
  let shown = { from: 0, to: 0 };
  const checked = () => [...boxes.querySelectorAll<HTMLInputElement>('input:checked')].map((b) => b.value);

  const render = () => {
    const metrics = checked();
    view = { ...view, metrics };
    const q = new URLSearchParams(rangeQuery(view));
    q.set('metrics', metrics.join(','));
    history.replaceState(null, '', `${location.pathname}?${q}`);
    charts.replaceChildren();
    if (!rows.length) {
      charts.append(el('p', { class: 'empty' }, 'No telemetry in this range.'));
      return;
    }
    const width = Math.max(600, charts.clientWidth || 900);
    const times = timesOf(rows);
    const step = typicalInterval(times);
    const t0 = view.from ? shown.from : times[0]!;
    const t1 = view.to ? shown.to : times[times.length - 1]! + Math.max(1, step);
    const flags = rows.some((r) => r.values.anomaly !== undefined) ? seriesOf(rows, 'anomaly', times) : null;
    const panels = metrics.map((m) => drawPanel(m, units.get(m) ?? '', seriesOf(rows, m, times), t0, t1, width, flags, marks, step > 0 ? step * 5 : Infinity));
    charts.append(...panels.map((p) => p.svg), timeAxis(t0, t1, width));
    const plotW = width - M.left - M.right;
    const onMove = (ev: MouseEvent) => {
      const box = (ev.currentTarget as SVGSVGElement).getBoundingClientRect();
      const x = ev.clientX - box.left - M.left;
      if (x < 0 || x > plotW) return;
      const i = nearest(times, t0 + (x / plotW) * (t1 - t0));
      if (i < 0) return;
      const xi = ((times[i]! - t0) / (t1 - t0)) * plotW;
      for (const p of panels) {
        p.cross.setAttribute('x1', String(xi));
        p.cross.setAttribute('x2', String(xi));
        p.cross.setAttribute('visibility', 'visible');
      }
      const values = panels.map((p) => `${p.metric} ${formatValue(p.series.v[i]!)}${units.get(p.metric) ? ` ${units.get(p.metric)}` : ''}`);
      readout.textContent = `${rows[i]!.ts}  ${values.join(' · ')}`;
    };
    for (const p of panels) p.svg.addEventListener('mousemove', onMove);
  };

  const load = async () => {
    view = { ...view, from: from.value.trim(), to: to.value.trim() };
    status('loading…');
    const [loaded, diag] = await Promise.all([
      loadRows(device.id, view),
      getJson<Diagnosis[]>(`/devices/${encodeURIComponent(device.id)}/diagnoses?limit=${DIAGNOSES_SHOWN}${view.from ? `&from=${encodeURIComponent(view.from)}` : ''}${view.to ? `&to=${encodeURIComponent(view.to)}` : ''}`),
    ]);
    rows = loaded.rows;
    shown = { from: loaded.from, to: loaded.to };
    marks = diag;
    const present = new Set(rows.flatMap((r) => Object.keys(r.values)));
    const wanted = view.metrics ?? chartable.filter((m) => present.has(m));
    boxes.replaceChildren(el('legend', {}, 'metrics'));
    for (const m of chartable) {
      const box = el('input', { type: 'checkbox', value: m, id: `m-${m}` });
      box.checked = wanted.includes(m);
      box.addEventListener('change', render);
      boxes.append(el('label', { for: `m-${m}`, class: present.has(m) ? '' : 'no-data' }, box, m));
    }
    render();
    showDiagnoses(diagnoses, marks);
    const flagged = rows.filter((r) => r.values.anomaly === 1).length;
    status(
      `${rows.length} samples${loaded.truncated ? ` (loading stopped at ${MAX_ROWS}: narrow the range to see any after them)` : ''}` +
        (rows.some((r) => r.values.anomaly !== undefined) ? `, ${flagged} flagged anomalous` : '') +
        `, ${marks.length === DIAGNOSES_SHOWN ? `the newest ${DIAGNOSES_SHOWN}` : marks.length} diagnoses`,
    );
  };

  controls.addEventListener('submit', (ev) => {
    ev.preventDefault();
    view = { ...view, metrics: checked() };
    load().catch(fail);
  });
  download.addEventListener('click', () => {
    const metrics = checked();
    if (!metrics.length) {
      status('Tick the metrics to download.', true);
      return;
    }
    status('preparing CSV…');
    // what the charts show: the range they were loaded with, as the API read it
    downloadCsv(device.id, metrics, { ...view, from: String(shown.from), to: String(shown.to) })
      .then(() => status('CSV downloaded'))
      .catch(fail);
  });
  await load();
}

function showDiagnoses(section: HTMLElement, list: Diagnosis[]): void {
  section.replaceChildren(el('h2', {}, 'Diagnoses'));
  if (!list.length) {
    section.append(el('p', {}, 'None in this range.'));
    return;
  }
  const body = el('tbody');
  for (const d of list) {
    body.append(
      el(
        'tr',
        {},
        ...[d.raisedAt, d.fault, d.severity, d.status, d.confidence.toFixed(2), d.clearedAt ?? ''].map((c) => el('td', {}, c)),
      ),
    );
  }
  section.append(el('table', {}, el('thead', {}, el('tr', {}, ...['raised', 'fault', 'severity', 'status', 'confidence', 'cleared'].map((h) => el('th', {}, h)))), body));
}

function fail(err: unknown): void {
  status(err instanceof Error ? err.message : String(err), true);
}

function route(): void {
  const main = document.getElementById('main')!;
  const m = /^\/console\/devices\/([^/]+)\/?$/.exec(location.pathname);
  (m ? showDevice(main, decodeURIComponent(m[1]!)) : showDeviceList(main)).catch(fail);
}

setupKeyForm(route);
route();
