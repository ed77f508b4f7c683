/** Picks a type's rule set (custom over shipped) and compiles it, dropping rules its device type cannot run. */
import { RuleSet } from '../../core/domain/rule.ts';
import type { Logger } from '../../core/logger.ts';
import type { OpsStore } from '../../core/ports.ts';
import { compileRuleSet, RuleCompileError, type Layout } from './compile.ts';

export async function loadRuleSetLayout(a: {
  type: string;
  custom: RuleSet | undefined;
  shipped: RuleSet | undefined;
  opsStore: Pick<OpsStore, 'getDeviceType'>;
  hasModel: boolean;
  logger: Logger;
}): Promise<Layout | null> {
  let ruleSet = a.custom ?? a.shipped;
  if (a.custom) {
    // stored sets were validated on PUT; parsing again fills defaults added since
    const parsed = RuleSet.safeParse(a.custom);
    if (!parsed.success) {
      a.logger.error({ type: a.type }, 'stored rule set no longer validates; using the shipped one');
      ruleSet = a.shipped;
    } else ruleSet = parsed.data;
  }
  if (!ruleSet && !a.hasModel) return null;
  ruleSet ??= RuleSet.parse({ type: a.type, rules: [] });
  const deviceType = await a.opsStore.getDeviceType(a.type);
  if (!deviceType) return null;
  const rules = ruleSet.rules.filter((rule) => {
    try {
      compileRuleSet({ ...ruleSet, rules: [rule] }, deviceType);
      return true;
    } catch (err) {
      if (!(err instanceof RuleCompileError)) throw err;
      a.logger.error({ type: a.type, rule: rule.id, reason: err.message }, 'rule skipped');
      return false;
    }
  });
  return compileRuleSet({ ...ruleSet, rules }, deviceType);
}
