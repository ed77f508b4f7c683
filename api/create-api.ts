/**
 * The api service: fastify with zod schemas for every request, OpenAPI at
 * /openapi.json and Swagger UI at /docs. The factory does no I/O; start()
 * listens, stop() closes (twice is fine).
 */
import fastifySwagger from '@fastify/swagger';
import fastifySwaggerUi from '@fastify/swagger-ui';
import Fastify, { LogController, type FastifyInstance } from 'fastify';
import { jsonSchemaTransform, serializerCompiler, validatorCompiler, type ZodTypeProvider } from 'fastify-type-provider-zod';
import { authenticate, createKeyCache } from './auth.ts';
import { consoleRoutes } from './console.ts';
import { createCommandExpiry } from './command-expiry.ts';
import type { ApiDeps, RouteDeps } from './deps.ts';
import { errorHandler, frameworkErrors, notFoundHandler } from './errors.ts';
import { jsonBodies } from './json-body.ts';
import { apiKeyRoutes } from './routes/api-keys.ts';
import { commandRoutes } from './routes/commands.ts';
import { deadLetterRoutes } from './routes/dead-letters.ts';
import { deviceTypeRoutes } from './routes/device-types.ts';
import { deviceRoutes } from './routes/devices.ts';
import { diagnosisRoutes } from './routes/diagnoses.ts';
import { eventRoutes } from './routes/events.ts';
import { healthRoutes } from './routes/health.ts';
import { modelRoutes } from './routes/models.ts';
import { ruleRoutes } from './routes/rules.ts';
import { telemetryRoutes } from './routes/telemetry.ts';

export type { ApiDeps, ApiOptions } from './deps.ts';
export { bootstrapAdminKey } from './bootstrap.ts';

export const API_PREFIX = '/api/v1';

export interface Api {
  app: FastifyInstance;
  start(): Promise<void>;
  stop(): Promise<void>;
  address(): { port: number };
}

function buildAppWith(deps: ApiDeps, routeDeps: RouteDeps): FastifyInstance {
  const app = Fastify({
    loggerInstance: routeDeps.log,
    // Per-request lines go out at debug (onResponse below) so load stays quiet.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: 1024 * 1024,
    // A poisoned body is refused with 400, never merged into an object.
    onProtoPoisoning: 'error',
    onConstructorPoisoning: 'error',
    routerOptions: { ignoreTrailingSlash: true, maxParamLength: 128 },
    frameworkErrors,
  }).withTypeProvider<ZodTypeProvider>();

  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  app.setErrorHandler(errorHandler);
  jsonBodies(app);
  app.setNotFoundHandler(notFoundHandler);
  app.decorateRequest('apiKey', null);
  app.addHook('onResponse', async (req, reply) => {
    req.log.debug({ method: req.method, url: req.url, statusCode: reply.statusCode, ms: Math.round(reply.elapsedTime) }, 'request');
  });

  void app.register(fastifySwagger, {
    openapi: {
      openapi: '3.0.3',
      info: {
        title: 'fleetdoc',
        description: 'Fleet telemetry, device registry and remote commands for appliances and industrial air compressors.',
        version: '1',
      },
      components: { securitySchemes: { bearerAuth: { type: 'http', scheme: 'bearer', description: 'An api key' } } },
    },
    transform: jsonSchemaTransform,
  });
  void app.register(fastifySwaggerUi, { routePrefix: '/docs' });

  void app.register(async (pub) => {
    await pub.register(healthRoutes(routeDeps));
    pub.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());
    consoleRoutes(pub as unknown as FastifyInstance);
  });

  void app.register(
    async (v1) => {
      v1.addHook('onRequest', authenticate(routeDeps.keyCache));
      v1.addHook('onRoute', (route) => {
        route.schema = { ...route.schema, security: [{ bearerAuth: [] }] };
      });
      for (const routes of [deviceRoutes, deviceTypeRoutes, telemetryRoutes, eventRoutes, commandRoutes, deadLetterRoutes, apiKeyRoutes, modelRoutes]) {
        await v1.register(routes(routeDeps));
      }
      await v1.register(diagnosisRoutes(routeDeps));
      await v1.register(ruleRoutes(routeDeps));
    },
    { prefix: API_PREFIX },
  );

  return app as unknown as FastifyInstance;
}

function routeDepsOf(deps: ApiDeps): RouteDeps {
  const log = deps.logger.child({ service: 'api' });
  const keyCache = createKeyCache({ opsStore: deps.opsStore, clock: deps.clock, ttlMs: deps.options?.keyCacheTtlMs ?? 5000 });
  return { ...deps, log, keyCache };
}

/** The fastify app alone, for `inject()` tests: no listener, no timers. */
export function buildApp(deps: ApiDeps): FastifyInstance {
  return buildAppWith(deps, routeDepsOf(deps));
}

export function createApi(deps: ApiDeps): Api & { expireCommandsNow(): Promise<void> } {
  const routeDeps = routeDepsOf(deps);
  const app = buildAppWith(deps, routeDeps);
  const expiry = createCommandExpiry({
    opsStore: deps.opsStore,
    clock: deps.clock,
    log: routeDeps.log,
    intervalMs: deps.options?.commandExpiryIntervalMs ?? 1000,
  });
  let started = false;
  let stopping: Promise<void> | null = null;

  return {
    app,
    async start() {
      if (started) return;
      started = true;
      try {
        await app.listen({ host: deps.config.api.host, port: deps.config.api.port });
      } catch (err) {
        started = false;
        throw err;
      }
      expiry.start();
      routeDeps.log.info({ port: this.address().port }, 'api listening');
    },
    stop() {
      stopping ??= (async () => {
        await expiry.stop();
        await app.close();
      })();
      return stopping;
    },
    address() {
      const addr = app.server.address();
      if (addr === null || typeof addr === 'string') throw new Error('api is not listening');
      return { port: addr.port };
    },
    expireCommandsNow: () => expiry.runOnce(),
  };
}
