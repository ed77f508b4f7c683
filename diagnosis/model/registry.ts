/**
 * Where models come from: the shipped ones (diagnosis/model/models/<type>.*)
 * and the ones registered through the api (ops store), the latter winning.
 * Each becomes onnxruntime sessions plus the feature plan of its card.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import ort from 'onnxruntime-node';
import { ModelCard } from '../../core/domain/model-card.ts';
import { createFeaturePlan, type FeaturePlan } from './features.ts';

export const SHIPPED_MODELS_DIR = fileURLToPath(new URL('./models/', import.meta.url));

export interface ModelFiles {
  card: ModelCard;
  anomaly: Uint8Array;
  classifier: Uint8Array | null;
}

export interface LoadedModel {
  type: string;
  /** Changes whenever the model does; device baselines learnt under another key are dropped. */
  key: string;
  source: 'shipped' | 'registered';
  card: ModelCard;
  plan: FeaturePlan;
  anomaly: ort.InferenceSession;
  classifier: ort.InferenceSession | null;
  /** Classifier classes in output column order ('normal' included). */
  classes: string[];
}

export function parseCard(raw: unknown, where: string): ModelCard {
  const parsed = ModelCard.safeParse(raw);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
    throw new Error(`model card ${where} is invalid: ${issues}`);
  }
  return parsed.data;
}

/** Every `<type>.card.json` of a folder with its `<type>.anomaly.onnx` (and classifier when present). */
export function readModelDir(dir: string): ModelFiles[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((f) => f.endsWith('.card.json'))
    .sort()
    .map((f) => {
      const card = parseCard(JSON.parse(readFileSync(join(dir, f), 'utf8')), join(dir, f));
      const clfPath = join(dir, `${card.type}.classifier.onnx`);
      return {
        card,
        anomaly: readFileSync(join(dir, `${card.type}.anomaly.onnx`)),
        classifier: card.classifier && existsSync(clfPath) ? readFileSync(clfPath) : null,
      };
    });
}

export function hasShippedModel(dir: string, type: string): boolean {
  return existsSync(join(dir, `${type}.card.json`));
}

const SESSION_OPTIONS: ort.InferenceSession.SessionOptions = {
  intraOpNumThreads: 1,
  interOpNumThreads: 1,
  executionMode: 'sequential',
  graphOptimizationLevel: 'all',
};

export async function loadModel(files: ModelFiles, source: LoadedModel['source'], version: string): Promise<LoadedModel> {
  const { card } = files;
  const anomaly = await ort.InferenceSession.create(files.anomaly, SESSION_OPTIONS);
  const classifier = files.classifier ? await ort.InferenceSession.create(files.classifier, SESSION_OPTIONS) : null;
  return {
    type: card.type,
    key: `${source}:${card.modelId}:${version}`,
    source,
    card,
    plan: createFeaturePlan(card),
    anomaly,
    classifier,
    classes: card.classifier?.classes ?? [],
  };
}

/**
 * Loads a model and runs it once on a row of zeros, as the scorer runs it: throws, saying why, when it cannot
 * serve its card (bytes onnxruntime cannot load, inputs of another width than the card's features, outputs missing).
 */
export async function verifyModel(files: ModelFiles): Promise<void> {
  const m = await loadModel(files, 'registered', 'check');
  try {
    const f = m.plan.size;
    const row = (v = 0) => new ort.Tensor('float32', new Float32Array(f).fill(v), [1, f]);
    const res = await m.anomaly.run({ x: row(), mu: row(), sigma: row(1), prev: new ort.Tensor('float32', new Float32Array(1), [1]) });
    const missing = ['score', 'smoothed', 'contrib'].filter((o) => res[o] === undefined);
    if (missing.length) throw new Error(`the anomaly model has no output ${missing.join(', ')}`);
    if (m.classifier) {
      const out = await m.classifier.run({ [m.classifier.inputNames[0] as string]: row() });
      const probs = out.probabilities ?? out[m.classifier.outputNames[1] as string];
      if (probs?.data.length !== m.classes.length) throw new Error(`the classifier gives ${probs?.data.length ?? 0} probabilities for the card's ${m.classes.length} classes`);
    }
  } finally {
    await releaseModel(m);
  }
}

export async function releaseModel(m: LoadedModel): Promise<void> {
  await m.anomaly.release();
  await m.classifier?.release();
}
