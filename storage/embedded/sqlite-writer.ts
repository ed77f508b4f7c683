import { Worker } from 'node:worker_threads';
import type { Point } from '../../core/domain/telemetry.ts';
import { errors } from '../../core/errors.ts';

export interface SqliteWriter {
  write(points: readonly Point[]): Promise<void>;
  close(): Promise<void>;
}

const WORKER_FILE = new URL('./sqlite-writer-worker.ts', import.meta.url).href;

/**
 * Starts the writer thread. The worker is TypeScript: it registers tsx's
 * loader first, which works the same under `npm start` (tsx) and vitest.
 */
export function startWriter(file: string): Promise<SqliteWriter> {
  const worker = new Worker(
    `import('tsx/esm/api').then((m) => { m.register(); return import(${JSON.stringify(WORKER_FILE)}); });`,
    { eval: true, workerData: { file } },
  );
  let nextId = 1;
  const pending = new Map<number, { resolve: () => void; reject: (e: Error) => void }>();
  let failed: Error | null = null;
  const failAll = (err: Error) => {
    failed = err;
    for (const p of pending.values()) p.reject(err);
    pending.clear();
  };
  worker.on('error', (err) => failAll(errors.storeUnavailable('embedded store writer thread failed', { cause: err })));
  worker.on('exit', (code) => failAll(errors.storeUnavailable(`embedded store writer thread exited (${code})`)));

  const call = (msg: { points?: readonly Point[]; close?: true }) =>
    new Promise<void>((resolve, reject) => {
      if (failed) return reject(failed);
      const id = nextId++;
      pending.set(id, { resolve, reject });
      worker.postMessage({ id, ...msg });
    });

  return new Promise((resolve, reject) => {
    worker.on('message', (m: { id: number; ok: boolean; error?: string }) => {
      if (m.id === 0) {
        resolve({
          write: (points) => call({ points }),
          async close() {
            if (failed) return;
            await call({ close: true }).catch(() => undefined);
            await worker.terminate();
          },
        });
        return;
      }
      const p = pending.get(m.id);
      if (!p) return;
      pending.delete(m.id);
      if (m.ok) p.resolve();
      else p.reject(errors.storeUnavailable(`embedded store write failed: ${m.error}`));
    });
    worker.once('error', reject);
  });
}
