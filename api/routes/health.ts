import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { HealthCheck } from '../../core/ports.ts';
import type { RouteDeps } from '../deps.ts';

const tags = ['operations'];

const ReadyBody = z.object({
  status: z.enum(['ok', 'unavailable']),
  checks: z.record(z.string(), z.boolean()),
  failed: z.array(z.string()),
});

async function passes(check: HealthCheck, timeoutMs: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => resolve(false), timeoutMs);
  });
  try {
    return await Promise.race([check.check().then((ok) => ok === true, () => false), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Liveness, readiness and Prometheus metrics; no api key needed. */
export function healthRoutes({ healthChecks, metrics, options }: RouteDeps): FastifyPluginAsyncZod {
  const timeoutMs = options?.readyTimeoutMs ?? 2000;
  return async (app) => {
    app.get('/health', {
      schema: { tags, summary: 'Liveness: the process serves requests', response: { 200: z.object({ status: z.literal('ok') }) } },
      handler: async () => ({ status: 'ok' as const }),
    });

    app.get('/ready', {
      schema: { tags, summary: 'Readiness: every dependency answers', response: { 200: ReadyBody, 503: ReadyBody } },
      handler: async (_req, reply) => {
        const results = await Promise.all(healthChecks.map(async (c) => [c.name, await passes(c, timeoutMs)] as const));
        const failed = results.filter(([, ok]) => !ok).map(([name]) => name);
        return reply.code(failed.length ? 503 : 200).send({
          status: failed.length ? 'unavailable' : 'ok',
          checks: Object.fromEntries(results),
          failed,
        });
      },
    });

    app.get('/metrics', {
      schema: { tags, summary: 'Prometheus metrics (text exposition format)', produces: ['text/plain'] },
      handler: async (_req, reply) => reply.type(metrics.registry.contentType).send(await metrics.registry.metrics()),
    });
  };
}
