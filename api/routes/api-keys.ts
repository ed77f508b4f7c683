import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { ApiKey, CreateApiKey } from '../../core/domain/api-key.ts';
import { errors } from '../../core/errors.ts';
import type { RouteDeps } from '../deps.ts';
import { ApiKeyCreated, notFoundErrors } from '../schemas.ts';

const tags = ['api keys'];

export function apiKeyRoutes({ opsStore, keyCache }: RouteDeps): FastifyPluginAsyncZod {
  return async (app) => {
    app.post('/api-keys', {
      config: { minRole: 'admin' },
      schema: { tags, summary: 'Create an api key; the key is returned only here', body: CreateApiKey, response: { 201: ApiKeyCreated, ...notFoundErrors } },
      handler: async (req, reply) => {
        const created = await opsStore.createApiKey(req.body.name, req.body.role);
        return reply.code(201).send(created);
      },
    });

    app.get('/api-keys', {
      config: { minRole: 'admin' },
      schema: { tags, summary: 'List api keys (never the keys themselves)', response: { 200: z.array(ApiKey), ...notFoundErrors } },
      handler: async () => opsStore.listApiKeys(),
    });

    app.delete('/api-keys/:id', {
      config: { minRole: 'admin' },
      schema: {
        tags,
        summary: 'Revoke an api key; it stops working at once on this instance',
        params: z.object({ id: z.string().min(1).max(64) }),
        response: { 204: z.undefined(), ...notFoundErrors },
      },
      handler: async (req, reply) => {
        const revoked = await opsStore.revokeApiKey(req.params.id);
        keyCache.clear();
        if (!revoked) throw errors.apiKeyNotFound(`api key ${req.params.id} not found or already revoked`);
        return reply.code(204).send();
      },
    });
  };
}
