/**
 * The rule set the diagnosis engine runs for a device type, as the api sees
 * it: the custom one PUT through the api, else the shipped file, else none.
 */
import { RuleSet, type StoredRuleSet } from '../core/domain/rule.ts';
import type { OpsStore } from '../core/ports.ts';
import { loadShippedRuleSets } from '../diagnosis/rules/shipped.ts';

export function ruleSetReader(opsStore: Pick<OpsStore, 'getRuleSet'>) {
  let shipped: Map<string, RuleSet> | undefined;
  const shippedSet = (type: string) => (shipped ??= loadShippedRuleSets()).get(type);

  async function current(type: string): Promise<StoredRuleSet> {
    const custom = await opsStore.getRuleSet(type);
    if (custom) return { type, source: 'custom', updatedAt: custom.updatedAt, ruleSet: RuleSet.parse(custom.ruleSet) };
    const s = shippedSet(type);
    return s ? { type, source: 'shipped', updatedAt: null, ruleSet: s } : { type, source: 'none', updatedAt: null, ruleSet: RuleSet.parse({ type, rules: [] }) };
  }

  return { current };
}
