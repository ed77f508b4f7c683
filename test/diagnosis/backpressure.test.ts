/**
 * The diagnosis engine consumes ingest's accepted samples in-process. When it falls behind (a replay of a
 * long recording, several at once), ingest holds the QoS1 acknowledgement until the engine has room instead
 * of the engine dropping samples: every acknowledged sample is judged. Real broker, ingest and engine.
 */
import { describe, expect, it } from 'vitest';
import { useStack } from '../helpers/stack.ts';

describe('diagnosis backpressure', () => {
  it('a backlog past maxQueue holds QoS1 acknowledgements until the engine takes it; nothing is dropped', { timeout: 60_000 }, async () => {
    // a tiny backlog and slow ticks: 12 messages of 40 samples arrive far faster than the engine takes them
    const t = await useStack({}, { diagnosisOptions: { maxQueue: 50, tickMs: 300 } });
    const { id, secret } = await t.registerDevice('air-compressor');
    const client = await t.connectDevice(id, secret);
    const start = Date.now() - 3_600_000;
    const sent = Array.from({ length: 12 }, (_, m) =>
      client.publishAsync(`devices/${id}/telemetry`, JSON.stringify({ samples: Array.from({ length: 40 }, (_, k) => ({ ts: start + (m * 40 + k) * 1000, seq: m * 40 + k, metrics: { motorCurrentA: 50 } })) }), { qos: 1 }),
    );
    await Promise.all(sent);
    const stats = t.stack.diagnosis.stats();
    expect(stats.dropped).toBe(0);
    await expect.poll(() => t.stack.diagnosis.stats().samples, { timeout: 20_000, interval: 100 }).toBe(480);
    expect(t.stack.diagnosis.stats().dropped).toBe(0);
    expect(await t.stack.metrics.registry.getSingleMetricAsString('fleetdoc_diagnosis_backpressure_waits_total')).toMatch(/_total [1-9]/);
  });
});
