/**
 * What the platform made of a replay, read back through its api: the anomaly decisions of the device's samples
 * (waited for while diagnosis judges them) and the samples ingest refused.
 */
import { ApiError, type PlatformClient } from '../platform.ts';

/** The refused samples of a replay, by reason, with the first few details. */
export interface Refused {
  count: number;
  byReason: Record<string, number>;
  examples: string[];
  capped: boolean;
}

/** How long the count of decisions may stand still (one engine tick of a full backlog takes seconds) before replay stops waiting for the rest (dead-lettered samples get none). */
const DECISION_IDLE_MS = 60_000;
const DECISION_POLL_MS = 1000;
/** How often the wait takes the full count of decisions (it reads every sample of the recording). */
const DECISION_COUNT_MS = 10_000;

export async function hasModel(platform: PlatformClient, type: string): Promise<boolean> {
  try {
    await platform.call('GET', `/models/${encodeURIComponent(type)}`);
    return true;
  } catch (err) {
    if (err instanceof ApiError && err.status === 404) return false;
    throw err;
  }
}

/**
 * Anomaly decisions of the device between first and last (inclusive) readable through the api: counted by the
 * store (windows of 366 days), so that polling costs the platform next to nothing while it judges the samples.
 */
async function countDecisions(platform: PlatformClient, device: string, first: number, last: number): Promise<number> {
  let n = 0;
  for (let from: string | null = new Date(first).toISOString(); from !== null; ) {
    const page: { rows: Array<{ values: Record<string, unknown> }>; next: string | null } = await platform.call(
      'GET', `/devices/${encodeURIComponent(device)}/telemetry?metrics=anomaly&every=366d&fn=count&from=${encodeURIComponent(from)}&to=${last + 1}`);
    for (const r of page.rows) n += Number(r.values.anomaly ?? 0);
    from = page.next;
  }
  return n;
}

/** Whether the device's sample at ts has its decision (one indexed row: cheap to ask every second). */
async function decidedAt(platform: PlatformClient, device: string, ts: number): Promise<boolean> {
  const page: { rows: Array<{ values: Record<string, unknown> }> } = await platform.call(
    'GET', `/devices/${encodeURIComponent(device)}/telemetry?metrics=anomaly&from=${ts}&to=${ts + 1}&limit=1`);
  return page.rows.some((r) => r.values.anomaly !== null && r.values.anomaly !== undefined);
}

/**
 * Diagnosis judges a device's samples in the order they arrive, shortly after ingest takes them: wait until
 * the last one sent has its decision (asking for that one row each second), then count them all. Every
 * DECISION_COUNT_MS the full count is taken too, and the wait ends when it has stood still for
 * DECISION_IDLE_MS (a sample ingest dead-lettered for another reason than a range gets no decision).
 */
export async function awaitDecisions(platform: PlatformClient, device: string, first: number, last: number, lastSent: number, published: number): Promise<number> {
  let n = -1;
  let since = Date.now();
  let counted = Date.now();
  for (;;) {
    if (await decidedAt(platform, device, lastSent)) break;
    if (Date.now() - counted >= DECISION_COUNT_MS) {
      counted = Date.now();
      const now = await countDecisions(platform, device, first, last);
      if (now >= published) return now;
      if (now !== n) {
        n = now;
        since = Date.now();
      } else if (Date.now() - since > DECISION_IDLE_MS) return n;
    }
    await new Promise((r) => setTimeout(r, DECISION_POLL_MS));
  }
  return countDecisions(platform, device, first, last);
}

/** Dead letters read back per replay; past this, `capped` says the count is a floor. */
const MAX_REFUSED_READ = 10_000;
const REFUSED_EXAMPLES = 3;

type DeadLetterRow = { reason: string; detail: string; receivedAt: string };

/** When the device's newest dead letter was received (the platform's clock), or undefined when it has none. */
export async function newestRefusal(platform: PlatformClient, device: string): Promise<string | undefined> {
  const rows = await platform.call<DeadLetterRow[]>('GET', `/dead-letters?deviceId=${encodeURIComponent(device)}&limit=1`);
  return rows[0]?.receivedAt;
}

/**
 * The device's dead letters received after `after` (its newest before the replay began: both times are the
 * platform's, so neither clock skew nor an earlier replay of the same device counts), by reason. The api
 * returns the newest first: past MAX_REFUSED_READ the examples are the earliest of the newest read.
 */
export async function refusedAfter(platform: PlatformClient, device: string, after: string | undefined): Promise<Refused> {
  const from = after === undefined ? '' : `&from=${Date.parse(after) + 1}`;
  const rows = await platform.call<DeadLetterRow[]>('GET', `/dead-letters?deviceId=${encodeURIComponent(device)}${from}&limit=${MAX_REFUSED_READ}`);
  const byReason: Record<string, number> = {};
  for (const r of rows) byReason[r.reason] = (byReason[r.reason] ?? 0) + 1;
  const examples = rows.slice(-REFUSED_EXAMPLES).reverse().map((r) => `${r.reason}: ${r.detail}`);
  return { count: rows.length, byReason, examples, capped: rows.length >= MAX_REFUSED_READ };
}
