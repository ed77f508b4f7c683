import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { DeviceEvent } from '../../core/domain/event.ts';
import { errors } from '../../core/errors.ts';
import type { RouteDeps } from '../deps.ts';
import { DeviceParams, TimeQuery, notFoundErrors, queryInt } from '../schemas.ts';
import { requireDevice } from './devices.ts';

export function eventRoutes({ opsStore }: RouteDeps): FastifyPluginAsyncZod {
  return async (app) => {
    app.get('/devices/:id/events', {
      config: { minRole: 'viewer' },
      schema: {
        tags: ['events'],
        summary: 'Error codes and state changes the device reported',
        params: DeviceParams,
        querystring: z.object({
          from: TimeQuery.optional(),
          to: TimeQuery.optional(),
          limit: queryInt({ min: 1, max: 10_000, default: 100 }),
        }),
        response: { 200: z.array(DeviceEvent), ...notFoundErrors },
      },
      handler: async (req) => {
        const { from, to, limit } = req.query;
        if (from !== undefined && to !== undefined && from >= to) throw errors.validation('from must be before to');
        const device = await requireDevice(opsStore, req.params.id);
        return opsStore.listEvents(device.id, { from, to, limit });
      },
    });
  };
}
