import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { DeviceId } from '../../core/domain/common.ts';
import { DeadLetter, DeadLetterReason } from '../../core/domain/dead-letter.ts';
import { errors } from '../../core/errors.ts';
import type { RouteDeps } from '../deps.ts';
import { TimeQuery, authErrors, queryInt } from '../schemas.ts';

export function deadLetterRoutes({ opsStore }: RouteDeps): FastifyPluginAsyncZod {
  return async (app) => {
    app.get('/dead-letters', {
      config: { minRole: 'viewer' },
      schema: {
        tags: ['dead letters'],
        summary: 'Device messages ingest refused, newest first, with the reason',
        querystring: z.object({
          deviceId: DeviceId.optional(),
          reason: DeadLetterReason.optional(),
          from: TimeQuery.optional(),
          to: TimeQuery.optional(),
          limit: queryInt({ min: 1, max: 10_000, default: 100 }),
        }),
        response: { 200: z.array(DeadLetter), ...authErrors },
      },
      handler: async (req) => {
        const { from, to } = req.query;
        if (from !== undefined && to !== undefined && from >= to) throw errors.validation('from must be before to');
        return opsStore.listDeadLetters(req.query);
      },
    });
  };
}
