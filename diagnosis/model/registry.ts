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
 * Loads a model and runs it once on two rows of zeros, as the scorer runs it (many devices' rows in one run):
 * throws, saying why, when it cannot serve its card (bytes onnxruntime cannot load, inputs of another width than
 * the card's features or of a fixed batch size, outputs missing or not one per row).
 */
export async function verifyModel(files: ModelFiles): Promise<void> {
  const m = await loadModel(files, 'registered', 'check');
  try {
    const f = m.plan.size;
    const rows = 2;
    const batch = (v = 0) => new ort.Tensor('float32', new Float32Array(rows * f).fill(v), [rows, f]);
    const res = await m.anomaly.run({ x: batch(), mu: batch(), sigma: batch(1), prev: new ort.Tensor('float32', new Float32Array(rows), [rows]) });
    for (const [name, size] of [['score', rows], ['smoothed', rows], ['contrib', rows * f]] as const) {
      const n = res[name]?.data.length;
      if (n !== size) throw new Error(n === undefined ? `the anomaly model has no output ${name}` : `its output ${name} has ${n} values for ${rows} rows of ${f} features (${size} expected)`);
    }
    if (m.classifier) {
      const out = await m.classifier.run({ [m.classifier.inputNames[0] as string]: batch() });
      const probs = out.probabilities ?? out[m.classifier.outputNames[1] as string];
      const n = probs?.data.length ?? 0;
      if (n !== rows * m.classes.length) throw new Error(`the classifier gives ${n} probabilities for ${rows} rows of the card's ${m.classes.length} classes`);
    }
  } finally {
    await releaseModel(m);
  }
}

export async function releaseModel(m: LoadedModel): Promise<void> {
  await m.anomaly.release();
  await m.classifier?.release();
}
