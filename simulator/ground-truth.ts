/** ground-truth.jsonl: one line per injected fault, rewritten atomically as faults get fixed. */
import { rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Fleet } from './fleet.ts';

export const GROUND_TRUTH_FILE = 'ground-truth.jsonl';

export async function writeGroundTruth(outDir: string, fleet: Fleet): Promise<void> {
  const rows = fleet.groundTruth();
  const file = join(outDir, GROUND_TRUTH_FILE);
  const tmp = `${file}.tmp`;
  await writeFile(tmp, rows.map((r) => JSON.stringify(r)).join('\n') + (rows.length ? '\n' : ''));
  await rename(tmp, file);
}

/** Serialises rewrites: at most one running and one queued. */
export function groundTruthWriter(outDir: string, fleet: Fleet) {
  let running: Promise<void> = Promise.resolve();
  let queued = false;
  return {
    schedule(): Promise<void> {
      if (queued) return running;
      queued = true;
      running = running.then(() => {
        queued = false;
        return writeGroundTruth(outDir, fleet);
      });
      return running;
    },
    flush(): Promise<void> {
      return running;
    },
  };
}
