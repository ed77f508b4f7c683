/**
 * Rule sets per device type: the shipped file unless one was PUT here. The
 * diagnosis engine polls the store and reloads a changed set without restart.
 */
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { Slug } from '../../core/domain/common.ts';
import { RuleSet, type StoredRuleSet } from '../../core/domain/rule.ts';
import { errors } from '../../core/errors.ts';
import type { OpsStore } from '../../core/ports.ts';
import { ruleSetProblems } from '../../diagnosis/rules/compile.ts';
import { ruleSetReader } from '../rule-sets.ts';
import type { RouteDeps } from '../deps.ts';
import { notFoundErrors } from '../schemas.ts';

const tags = ['rules'];
const TypeParams = z.object({ type: Slug });

async function requireType(opsStore: OpsStore, name: string) {
  const type = await opsStore.getDeviceType(name);
  if (!type) throw errors.deviceTypeNotFound(`device type ${name} not found`);
  return type;
}

export function ruleRoutes({ opsStore, clock }: RouteDeps): FastifyPluginAsyncZod {
  const { current } = ruleSetReader(opsStore);

  return async (app) => {
    app.get('/rules/:type', {
      config: { minRole: 'viewer' },
      schema: { tags, summary: 'The rule set the engine runs for a device type', params: TypeParams, response: { 200: z.unknown().describe('StoredRuleSet'), ...notFoundErrors } },
      handler: async (req) => {
        await requireType(opsStore, req.params.type);
        return current(req.params.type);
      },
    });

    app.put('/rules/:type', {
      config: { minRole: 'service' },
      schema: {
        tags,
        summary: 'Replace a device type’s rule set (validated; the engine reloads it without restart)',
        params: TypeParams,
        body: RuleSet,
        response: { 200: z.unknown().describe('StoredRuleSet'), ...notFoundErrors },
      },
      handler: async (req) => {
        const type = await requireType(opsStore, req.params.type);
        const problems = ruleSetProblems(req.body, type);
        if (problems.length) throw errors.validation(`invalid rule set: ${problems.join('; ')}`, { details: { problems } });
        const saved = await opsStore.putRuleSet(req.body, clock.now());
        return { type: type.name, source: 'custom', updatedAt: saved.updatedAt, ruleSet: req.body } satisfies StoredRuleSet;
      },
    });

    app.delete('/rules/:type', {
      config: { minRole: 'service' },
      schema: { tags, summary: 'Drop the custom rule set; the shipped one applies again', params: TypeParams, response: { 200: z.unknown().describe('StoredRuleSet'), ...notFoundErrors } },
      handler: async (req) => {
        await requireType(opsStore, req.params.type);
        await opsStore.deleteRuleSet(req.params.type);
        return current(req.params.type);
      },
    });
  };
}
