/**
 * Summarises a V8 .cpuprofile (from `npm run bench:ingest -- --profile DIR`):
 * self time by area (npm package, fleetdoc folder, node internals, GC) and
 * the top functions by self time.
 *
 *   npx tsx bench/profile-top.ts DIR/fleetdoc-influx-20000.cpuprofile [topN]
 */
import { readFileSync } from 'node:fs';
import { relative } from 'node:path';
import { fileURLToPath } from 'node:url';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

const REPO_ROOT = fileURLToPath(new URL('..', import.meta.url));

function area(url: string, fn: string): string {
  if (!url) return fn.startsWith('(') ? fn : '(native)';
  const nm = url.lastIndexOf('/node_modules/');
  if (nm >= 0) {
    const rest = url.slice(nm + '/node_modules/'.length).split('/');
    return rest[0]!.startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0]!;
  }
  if (url.startsWith('node:')) return url.startsWith('node:internal/stream') || url.startsWith('node:stream') ? 'node:streams' : url.startsWith('node:internal/') ? `node:${url.split('/')[1]}` : url;
  const path = url.startsWith('file://') ? fileURLToPath(url) : url;
  const rel = relative(REPO_ROOT, path);
  return rel.startsWith('..') ? path : `fleetdoc:${rel.split('/').slice(0, -1).join('/') || rel}`;
}

function main(): void {
  const file = process.argv[2];
  const top = Number(process.argv[3] ?? '30');
  if (!file) throw new Error('usage: npx tsx bench/profile-top.ts FILE.cpuprofile [topN]');
  const p = JSON.parse(readFileSync(file, 'utf8')) as Profile;
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const self = new Map<number, number>();
  p.samples.forEach((id, i) => self.set(id, (self.get(id) ?? 0) + (p.timeDeltas[i] ?? 0)));
  const total = [...self.values()].reduce((s, v) => s + v, 0);
  const idle = [...self].filter(([id]) => byId.get(id)?.callFrame.functionName === '(idle)').reduce((s, [, v]) => s + v, 0);
  const busy = total - idle;

  const byArea = new Map<string, number>();
  const byFn = new Map<string, number>();
  for (const [id, us] of self) {
    const n = byId.get(id)!;
    const { functionName, url, lineNumber } = n.callFrame;
    if (functionName === '(idle)') continue;
    const a = area(url, functionName);
    byArea.set(a, (byArea.get(a) ?? 0) + us);
    const key = `${functionName || '(anonymous)'} ${url ? `${url.replace(/^file:\/\//, '').replace(REPO_ROOT, '')}:${lineNumber + 1}` : ''}`;
    byFn.set(key, (byFn.get(key) ?? 0) + us);
  }
  const pct = (us: number) => `${((us / busy) * 100).toFixed(1).padStart(5)} %`;
  const out: string[] = [];
  out.push(`${file}: ${(total / 1e6).toFixed(1)} s profiled, ${(busy / 1e6).toFixed(1)} s busy (${((busy / total) * 100).toFixed(0)} %)`);
  out.push('', 'self time by area (share of busy time):');
  for (const [a, us] of [...byArea].sort((x, y) => y[1] - x[1]).slice(0, 25)) out.push(`  ${pct(us)}  ${a}`);
  out.push('', `top ${top} functions by self time:`);
  for (const [f, us] of [...byFn].sort((x, y) => y[1] - x[1]).slice(0, top)) out.push(`  ${pct(us)}  ${f}`);
  // long stretches of consecutive samples under one frame = the event loop blocked there
  const parent = new Map<number, number>();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const stackOf = (id: number): string[] => {
    const names: string[] = [];
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const f = byId.get(cur)!.callFrame;
      if (f.functionName !== '(root)') names.push(`${f.functionName || '(anonymous)'}${f.url ? ` ${area(f.url, f.functionName)}` : ''}`);
    }
    return names;
  };
  const stretches: Array<{ us: number; frame: string }> = [];
  let runStart = 0;
  let runUs = 0;
  let runKey = '';
  const flushRun = () => {
    if (runUs > 0) stretches.push({ us: runUs, frame: runKey });
  };
  p.samples.forEach((id, i) => {
    const st = stackOf(id);
    // group by the outermost frame below the event loop's entry: one task
    const key = st.length ? st.slice(-3).reverse().join(' > ') : '(idle)';
    if (key !== runKey || byId.get(id)?.callFrame.functionName === '(idle)') {
      flushRun();
      runKey = key;
      runUs = 0;
      runStart = i;
    }
    runUs += p.timeDeltas[i] ?? 0;
  });
  flushRun();
  void runStart;
  out.push('', 'longest uninterrupted stretches (same task root, ≥ 50 ms):');
  for (const st of stretches.filter((x) => x.us >= 50_000 && !x.frame.startsWith('(idle)')).sort((a, b) => b.us - a.us).slice(0, 12)) {
    out.push(`  ${(st.us / 1000).toFixed(0).padStart(6)} ms  ${st.frame}`);
  }
  process.stdout.write(out.join('\n') + '\n');
}

main();
