import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it, onTestFinished } from 'vitest';
import { recordingOrigin, replayCsv } from '../../simulator/replay/replay.ts';
import { useStack, type TestStack } from '../helpers/stack.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** `npm run replay -- …args` as its own process, against the stack. */
function replayCli(s: TestStack, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const target = ['--api', s.httpUrl, '--mqtt', s.mqttUrl, '--api-key', s.adminKey];
  return new Promise((resolve) => {
    execFile(process.execPath, ['--import', 'tsx', 'simulator/bin/replay.ts', ...args, ...target], { cwd: ROOT, timeout: 60_000 }, (err, stdout, stderr) => {
      resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : -1, stdout, stderr });
    });
  });
}

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'sim-replay-inputs-'));
  onTestFinished(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

const HEADER = 'ts,dischargePressureBar,Oil temperature';

describe('replay checks its inputs before it touches the platform', () => {
  it.each([
    { what: 'a missing file', o: { file: 'nonexist.csv', timeColumn: 'ts' }, error: /ENOENT: no such file or directory, open '.*nonexist\.csv'/ },
    { what: 'a time column not in the header', o: { file: 'data.csv', timeColumn: 'Ts' }, error: `time column Ts not in the header (${HEADER.split(',').join(', ')})` },
    { what: 'a --map column not in the header', o: { file: 'data.csv', timeColumn: 'ts', map: { 'Oil temp': 'oilTempC' } }, error: '--map: no column Oil temp in the header' },
    { what: 'a time column without one readable time', o: { file: 'no-times.csv', timeColumn: 'ts' }, error: 'no row has a readable time in column ts' },
  ])('$what: a clear error, and no device registered, rotated or connected', async ({ o, error }) => {
    const s = await useStack();
    const dir = await tempDir();
    await writeFile(join(dir, 'data.csv'), `${HEADER}\n2025-06-01T06:00:00Z,7.1,78\n2025-06-01T06:01:00Z,7.2,79\n`);
    await writeFile(join(dir, 'no-times.csv'), `${HEADER}\nsoon,7.1,78\nlater,7.2,79\n`);
    const options = { ...o, file: join(dir, o.file), type: 'air-compressor', speed: 'max' as const, apiUrl: s.httpUrl, mqttUrl: s.mqttUrl, apiKey: s.adminKey, waitForDecisions: false };
    await expect(replayCsv({ ...options, device: 'replay-in-new' })).rejects.toThrow(error);
    expect((await s.http('GET', '/api/v1/devices/replay-in-new')).status).toBe(404);

    const existing = await s.registerDevice('air-compressor');
    await expect(replayCsv({ ...options, device: existing.id })).rejects.toThrow(error);
    // never connected, and its secret not rotated: the device's own still works
    expect((await s.http('GET', `/api/v1/devices/${existing.id}`)).body).toMatchObject({ online: false, lastSeenAt: null });
    await s.connectDevice(existing.id, existing.secret);
  });

  it("the recording's origin is an error without its time column, not a quiet undefined", async () => {
    const dir = await tempDir();
    const file = join(dir, 'data.csv');
    await writeFile(file, `${HEADER}\n2025-06-01T06:01:00Z,7.2,79\n2025-06-01T06:00:00Z,7.1,78\n`);
    await expect(recordingOrigin(file, undefined, 'Ts')).rejects.toThrow('time column Ts not in the header');
    expect(await recordingOrigin(file, undefined, 'ts')).toBe(Date.parse('2025-06-01T06:00:00Z'));
  });

  it('the command line: a missing file exits 1 with the reason and registers nothing', async () => {
    const s = await useStack();
    const dir = await tempDir();
    const res = await replayCli(s, ['--file', join(dir, 'nonexist.csv'), '--type', 'air-compressor', '--device', 'nofile-dev', '--time-column', 'ts', '--no-wait']);
    expect(res.code).toBe(1);
    expect(res.stderr).toMatch(/^replay failed: ENOENT: no such file or directory, open '.*nonexist\.csv'$/m);
    expect((await s.http('GET', '/api/v1/devices/nofile-dev')).status).toBe(404);
  });
});

describe('replay summary', () => {
  it('rows out of time order: the span is the earliest to the latest time, not the first and last rows', async () => {
    const s = await useStack();
    const dir = await tempDir();
    const file = join(dir, 'shuffled.csv');
    // the recording runs from 05:30 to 02:10 the next day; its first row is at 06:00 and its last at 06:41
    await writeFile(
      file,
      ['ts,dischargePressureBar', '2025-06-01T06:00:00Z,7.1', '2025-06-02T02:10:00Z,7.2', '2025-06-01T05:30:00Z,7.0', '2025-06-01T23:59:00Z,7.3', '2025-06-01T06:41:00Z,7.4'].join('\n') + '\n',
    );
    const summary = await replayCsv({ file, type: 'air-compressor', device: 'replay-span-1', timeColumn: 'ts', speed: 'max', apiUrl: s.httpUrl, mqttUrl: s.mqttUrl, apiKey: s.adminKey, waitForDecisions: false });
    expect(summary).toMatchObject({
      published: 5,
      firstTs: '2025-06-01T06:00:00.000Z',
      lastTs: '2025-06-01T06:41:00.000Z',
      earliestTs: '2025-06-01T05:30:00.000Z',
      latestTs: '2025-06-02T02:10:00.000Z',
      outOfOrder: 2,
    });
    const read = async () =>
      (await s.http<{ rows: { ts: string }[] }>('GET', '/api/v1/devices/replay-span-1/telemetry?metrics=dischargePressureBar&from=2025-06-01T00:00:00Z&to=2025-06-03T00:00:00Z')).body.rows.map((r) => r.ts);
    await expect.poll(read, { timeout: 5000 }).toEqual(['2025-06-01T05:30:00.000Z', '2025-06-01T06:00:00.000Z', '2025-06-01T06:41:00.000Z', '2025-06-01T23:59:00.000Z', '2025-06-02T02:10:00.000Z']);

    // what the command line prints
    const res = await replayCli(s, ['--file', file, '--type', 'air-compressor', '--device', 'replay-span-2', '--time-column', 'ts', '--no-wait']);
    expect(res.code, res.stderr).toBe(0);
    expect(res.stdout).toContain('5 samples published, 0 bad rows skipped; 2025-06-01T05:30:00.000Z → 2025-06-02T02:10:00.000Z (rows out of time order: 2 earlier than the row before them)');
    // a file in time order says nothing about order
    const sorted = join(dir, 'sorted.csv');
    await writeFile(sorted, 'ts,dischargePressureBar\n2025-06-01T06:00:00Z,7.1\n2025-06-01T06:41:00Z,7.4\n');
    const inOrder = await replayCli(s, ['--file', sorted, '--type', 'air-compressor', '--device', 'replay-span-3', '--time-column', 'ts', '--no-wait']);
    expect(inOrder.code, inOrder.stderr).toBe(0);
    expect(inOrder.stdout).toBe('replay-span-3 (air-compressor, registered): 2 rows, 2 samples published, 0 bad rows skipped; 2025-06-01T06:00:00.000Z → 2025-06-01T06:41:00.000Z\n');
  });
});
