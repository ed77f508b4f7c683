import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { Slug } from '../../core/domain/common.ts';
import { DeviceType } from '../../core/domain/device-type.ts';
import { errors } from '../../core/errors.ts';
import type { RouteDeps } from '../deps.ts';
import { DeviceTypeBody, notFoundErrors } from '../schemas.ts';

const tags = ['device types'];

export function deviceTypeRoutes({ opsStore }: RouteDeps): FastifyPluginAsyncZod {
  return async (app) => {
    app.get('/device-types', {
      config: { minRole: 'viewer' },
      schema: { tags, summary: 'List device types', response: { 200: z.array(DeviceTypeBody), ...notFoundErrors } },
      handler: async () => opsStore.listDeviceTypes(),
    });

    app.get('/device-types/:name', {
      config: { minRole: 'viewer' },
      schema: {
        tags,
        summary: 'A device type with its metric definitions',
        params: z.object({ name: Slug }),
        response: { 200: DeviceTypeBody, ...notFoundErrors },
      },
      handler: async (req) => {
        const type = await opsStore.getDeviceType(req.params.name);
        if (!type) throw errors.deviceTypeNotFound(`device type ${req.params.name} not found`);
        return type;
      },
    });

    app.post('/device-types', {
      config: { minRole: 'service' },
      schema: {
        tags,
        summary: 'Add a device type (409 when the name is taken)',
        body: DeviceType,
        response: { 201: DeviceTypeBody, ...notFoundErrors, 409: notFoundErrors[404] },
      },
      handler: async (req, reply) => reply.code(201).send(await opsStore.createDeviceType(req.body)),
    });
  };
}
