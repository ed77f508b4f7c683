/**
 * Anomaly models: the shipped ones (read from their card files) and the ones
 * registered with `npm run model:train` (ops store). A registered model
 * replaces the shipped one of its type; the diagnosis scorer picks it up by
 * polling the store's model versions, without a restart.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyBaseLogger } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { Slug } from '../../core/domain/common.ts';
import { ModelCard } from '../../core/domain/model-card.ts';
import { errors } from '../../core/errors.ts';
import type { RouteDeps } from '../deps.ts';
import { notFoundErrors } from '../schemas.ts';

const tags = ['models'];
// Data files beside the scorer, read like core/device-types: no diagnosis code is imported.
const SHIPPED_DIR = fileURLToPath(new URL('../../diagnosis/model/models/', import.meta.url));
const MAX_ONNX_BYTES = 16 * 1024 * 1024;

const Base64 = z
  .string()
  .max(Math.ceil((MAX_ONNX_BYTES * 4) / 3) + 4)
  .regex(/^[A-Za-z0-9+/]+={0,2}$/, 'base64');

const RegisterModelBody = z.object({
  card: ModelCard,
  anomalyOnnx: Base64.describe('The anomaly model (ONNX), base64'),
  classifierOnnx: Base64.optional().describe('A known-fault classifier (ONNX), base64; needs card.classifier.classes'),
});

const ModelSummary = z.object({
  type: z.string(),
  modelId: z.string(),
  source: z.enum(['shipped', 'registered']),
  version: z.number().int().describe('Registrations of this type so far; 0 for a shipped model'),
  updatedAt: z.string().nullable(),
  threshold: z.number(),
  calibrationSamples: z.number().int(),
  features: z.number().int(),
});

const ModelDetail = ModelSummary.extend({ card: z.record(z.string(), z.unknown()).describe('The model card: features, thresholds, training data hash, held-out metrics') });

type Detail = z.infer<typeof ModelDetail>;

function detail(card: ModelCard, source: Detail['source'], version: number, updatedAt: string | null): Detail {
  return {
    type: card.type,
    modelId: card.modelId,
    source,
    version,
    updatedAt,
    threshold: card.threshold,
    calibrationSamples: card.calibrationSamples,
    features: card.features.length,
    card,
  };
}

function shippedCards(): ModelCard[] {
  if (!existsSync(SHIPPED_DIR)) return [];
  return readdirSync(SHIPPED_DIR)
    .filter((f) => f.endsWith('.card.json'))
    .sort()
    .flatMap((f) => {
      const parsed = ModelCard.safeParse(JSON.parse(readFileSync(join(SHIPPED_DIR, f), 'utf8')));
      return parsed.success ? [parsed.data] : [];
    });
}

function decode(b64: string, what: string): Buffer {
  const buf = Buffer.from(b64, 'base64');
  if (buf.length === 0 || buf.length > MAX_ONNX_BYTES) throw errors.validation(`${what} must be 1 byte to 16 MiB of ONNX`);
  // an ONNX ModelProto starts with field 1 (ir_version, varint): tag byte 0x08
  if (buf[0] !== 0x08) throw errors.validation(`${what} is not an ONNX model`);
  return buf;
}

export function modelRoutes({ opsStore, onModelsChanged, checkModel }: RouteDeps): FastifyPluginAsyncZod {
  /** The model is stored either way; a scorer that could not reload now picks it up on its next registry check. */
  async function modelsChanged(log: FastifyBaseLogger): Promise<void> {
    try {
      await onModelsChanged?.();
    } catch (err) {
      log.warn({ err }, 'reloading models in this process failed; the scorer will retry on its next check');
    }
  }

  return async (app) => {
    app.get('/models', {
      config: { minRole: 'viewer' },
      schema: { tags, summary: 'Anomaly models in use, one per device type', response: { 200: z.array(ModelSummary), ...notFoundErrors } },
      handler: async () => {
        const byType = new Map<string, Detail>();
        for (const c of shippedCards()) byType.set(c.type, detail(c, 'shipped', 0, null));
        for (const r of await opsStore.listModels()) byType.set(r.type, detail(r.card, 'registered', r.version, r.updatedAt));
        return [...byType.values()].sort((a, b) => a.type.localeCompare(b.type)).map(({ card: _card, ...summary }) => summary);
      },
    });

    app.get('/models/:type', {
      config: { minRole: 'viewer' },
      schema: { tags, summary: "The model card of a type's anomaly model", params: z.object({ type: Slug }), response: { 200: ModelDetail, ...notFoundErrors } },
      handler: async (req) => {
        const r = await opsStore.getModel(req.params.type);
        if (r) return detail(r.card, 'registered', r.version, r.updatedAt);
        const shipped = shippedCards().find((c) => c.type === req.params.type);
        if (shipped) return detail(shipped, 'shipped', 0, null);
        throw errors.notFound(`no model for device type ${req.params.type}`);
      },
    });

    app.post('/models/:type', {
      config: { minRole: 'service' },
      bodyLimit: 48 * 1024 * 1024,
      schema: {
        tags,
        summary: 'Register an anomaly model for a device type (npm run model:train); replaces the current one without restart',
        params: z.object({ type: Slug }),
        body: RegisterModelBody,
        response: { 201: ModelDetail, ...notFoundErrors },
      },
      handler: async (req, reply) => {
        const { card } = req.body;
        if (card.type !== req.params.type) throw errors.validation(`card.type ${card.type} does not match the path's type ${req.params.type}`);
        const type = await opsStore.getDeviceType(req.params.type);
        if (!type) throw errors.deviceTypeNotFound(`device type ${req.params.type} not found`);
        const known = new Set(type.metrics.filter((m) => m.kind !== 'string').map((m) => m.name));
        const unknown = [...new Set(card.features.map((f) => f.metric))].filter((m) => !known.has(m));
        if (unknown.length) throw errors.validation(`features read metrics the type does not have (or that are strings): ${unknown.join(', ')}`);
        if (req.body.classifierOnnx !== undefined && !card.classifier) throw errors.validation('a classifier needs card.classifier.classes');
        const anomalyOnnx = decode(req.body.anomalyOnnx, 'anomalyOnnx');
        const classifierOnnx = req.body.classifierOnnx === undefined ? null : decode(req.body.classifierOnnx, 'classifierOnnx');
        const stored = classifierOnnx ? card : { ...card, classifier: undefined };
        // loaded and run once before it is stored: a model the scorer cannot run would leave the type without decisions
        try {
          await checkModel?.({ card: stored, anomaly: anomalyOnnx, classifier: classifierOnnx });
        } catch (err) {
          throw errors.validation(`the model does not run with its card: ${err instanceof Error ? err.message : String(err)}`);
        }
        const saved = await opsStore.putModel({ card: stored, anomalyOnnx, classifierOnnx });
        req.log.info({ type: saved.type, modelId: saved.modelId, version: saved.version }, 'anomaly model registered');
        await modelsChanged(req.log);
        return reply.code(201).send(detail(saved.card, 'registered', saved.version, saved.updatedAt));
      },
    });

    app.delete('/models/:type', {
      config: { minRole: 'service' },
      schema: { tags, summary: 'Remove a registered model; the shipped one (if any) is used again', params: z.object({ type: Slug }), response: { 204: z.null(), ...notFoundErrors } },
      handler: async (req, reply) => {
        if (!(await opsStore.deleteModel(req.params.type))) throw errors.notFound(`no registered model for device type ${req.params.type}`);
        await modelsChanged(req.log);
        return reply.code(204).send(null);
      },
    });
  };
}
