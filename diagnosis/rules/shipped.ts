/** The rule sets shipped with fleetdoc: diagnosis/rules/sets/<type>.json, validated by zod. */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { RuleSet } from '../../core/domain/rule.ts';
import { errors } from '../../core/errors.ts';

export const SHIPPED_RULES_DIR = fileURLToPath(new URL('./sets/', import.meta.url));

export function loadShippedRuleSets(dir: string = SHIPPED_RULES_DIR): Map<string, RuleSet> {
  const out = new Map<string, RuleSet>();
  for (const f of readdirSync(dir).filter((x) => x.endsWith('.json')).sort()) {
    const file = join(dir, f);
    let raw: unknown;
    try {
      raw = JSON.parse(readFileSync(file, 'utf8'));
    } catch (err) {
      throw errors.config(`rule set file ${file} is not valid JSON`, { cause: err });
    }
    const parsed = RuleSet.safeParse(raw);
    if (!parsed.success) {
      throw errors.config(`rule set file ${file} is invalid: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
    }
    if (`${parsed.data.type}.json` !== f) throw errors.config(`rule set file ${file} is for type ${parsed.data.type}`);
    out.set(parsed.data.type, parsed.data);
  }
  return out;
}
