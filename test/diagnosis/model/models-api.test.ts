/** /api/v1/models: shipped cards, registering (validated), replacing and removing a type's model. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { SHIPPED_MODELS_DIR } from '../../../diagnosis/model/registry.ts';
import { useStack } from '../../helpers/stack.ts';
import { python } from './helpers.ts';

const card = JSON.parse(readFileSync(join(SHIPPED_MODELS_DIR, 'air-compressor.card.json'), 'utf8')) as Record<string, unknown> & { features: Array<{ metric: string }> };
const anomalyOnnx = readFileSync(join(SHIPPED_MODELS_DIR, 'air-compressor.anomaly.onnx')).toString('base64');

describe('models api', () => {
  it('lists shipped models, validates, registers new versions and falls back to the shipped one', async () => {
    const t = await useStack();
    const list = await t.http<Array<{ type: string; source: string; version: number }>>('GET', '/api/v1/models');
    expect(list.body.map((m) => m.type)).toEqual(['air-compressor', 'refrigerator', 'washing-machine']);
    expect(list.body.every((m) => m.source === 'shipped' && m.version === 0)).toBe(true);
    const served = (await t.http<{ card: { modelId: string; training: { source: string } } }>('GET', '/api/v1/models/air-compressor')).body.card;
    expect(served.modelId).toBe(card.modelId);
    expect(served.training.source).toMatch(/^simulator/);
    expect((await t.http('GET', '/api/v1/models/no-such-type')).status).toBe(404);

    const post = (type: string, body: unknown) => t.http<{ code?: string; version?: number; source?: string }>('POST', `/api/v1/models/${type}`, body);
    expect((await post('refrigerator', { card, anomalyOnnx })).status).toBe(400); // card is for another type
    expect((await post('air-compressor', { card: { ...card, typeMean: [1] }, anomalyOnnx })).status).toBe(400);
    const badMetric = { ...card, features: card.features.map((f, i) => (i === 0 ? { ...f, metric: 'noSuchMetric' } : f)) };
    expect((await post('air-compressor', { card: badMetric, anomalyOnnx })).status).toBe(400);
    expect((await post('air-compressor', { card, anomalyOnnx: Buffer.from('not onnx').toString('base64') })).status).toBe(400);
    // loaded and run before it is stored: bytes that only begin like ONNX, a model of another width than the card's features
    // (and one exported with a fixed batch of 1, as torch.onnx.export without dynamic_axes does: the scorer runs many rows at once)
    const fixedBatch = python([
      'import onnx, base64',
      "m = onnx.load('diagnosis/model/models/air-compressor.anomaly.onnx')",
      'for v in list(m.graph.input) + list(m.graph.output): v.type.tensor_type.shape.dim[0].dim_value = 1',
      'print(json.dumps(base64.b64encode(m.SerializeToString()).decode()))',
    ]) as string;
    const cannotRun = [Buffer.from([0x08, 0x07, 0x12, 0x01]), readFileSync(join(SHIPPED_MODELS_DIR, 'refrigerator.anomaly.onnx')), Buffer.from(fixedBatch, 'base64')];
    for (const bytes of cannotRun) {
      const res = await post('air-compressor', { card, anomalyOnnx: bytes.toString('base64') });
      expect(res.status).toBe(400);
      expect(res.body).toMatchObject({ code: 'FLEETDOC_ERR_VALIDATION', message: expect.stringMatching(/^the model does not run with its card: /) });
    }
    expect((await t.http<Array<{ source: string }>>('GET', '/api/v1/models')).body.every((m) => m.source === 'shipped')).toBe(true);
    expect((await post('vacuum-pump', { card: { ...card, type: 'vacuum-pump' }, anomalyOnnx })).status).toBe(404);
    expect((await t.http('POST', '/api/v1/models/air-compressor', { card, anomalyOnnx }, null)).status).toBe(401);

    const first = await post('air-compressor', { card, anomalyOnnx });
    expect(first.status).toBe(201);
    expect(first.body).toMatchObject({ source: 'registered', version: 1 });
    expect((await post('air-compressor', { card, anomalyOnnx })).body.version).toBe(2);
    expect((await t.http<{ source: string }>('GET', '/api/v1/models/air-compressor')).body.source).toBe('registered');
    expect((await t.http('DELETE', '/api/v1/models/air-compressor')).status).toBe(204);
    expect((await t.http<{ source: string }>('GET', '/api/v1/models/air-compressor')).body.source).toBe('shipped');
    expect((await t.http('DELETE', '/api/v1/models/air-compressor')).status).toBe(404);
  });
});
