import { airCompressor } from './air-compressor.ts';
import type { ModelSpec } from './model.ts';
import { refrigerator } from './refrigerator.ts';
import { washingMachine } from './washing-machine.ts';

/** The device types the simulator can play, by type name. */
export const MODELS: Readonly<Record<string, ModelSpec>> = {
  'air-compressor': airCompressor,
  refrigerator,
  'washing-machine': washingMachine,
};

export function modelFor(type: string): ModelSpec {
  const m = MODELS[type];
  if (!m) throw new Error(`the simulator has no model for device type ${type} (known: ${Object.keys(MODELS).join(', ')})`);
  return m;
}
