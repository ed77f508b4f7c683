import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DeviceType } from './domain/device-type.ts';
import { errors } from './errors.ts';

const SHIPPED_DIR = fileURLToPath(new URL('./device-types/', import.meta.url));

/** Loads and validates every *.json device type file in a folder. */
export function loadDeviceTypeFiles(dir: string = SHIPPED_DIR): DeviceType[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((f) => {
      const file = join(dir, f);
      let raw: unknown;
      try {
        raw = JSON.parse(readFileSync(file, 'utf8'));
      } catch (err) {
        throw errors.config(`device type file ${file} is not valid JSON`, { cause: err });
      }
      const parsed = DeviceType.safeParse(raw);
      if (!parsed.success) {
        const issues = parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
        throw errors.config(`device type file ${file} is invalid: ${issues}`);
      }
      return parsed.data;
    });
}
