/**
 * Bearer api keys. Each route names the least role it needs in its config
 * (`config: { minRole }`); roles rank viewer < service < admin. Lookups are
 * cached briefly so a burst of requests costs one store query per key, and a
 * key revoked elsewhere stops working within the TTL (at once when revoked
 * through this api, which clears the cache).
 */
import type { onRequestAsyncHookHandler } from 'fastify';
import type { Clock } from '../core/clock.ts';
import type { ApiKey, Role } from '../core/domain/api-key.ts';
import { errors, isFleetdocError } from '../core/errors.ts';
import type { OpsStore } from '../core/ports.ts';
import { hashSecret } from '../core/secrets.ts';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Least role the route needs; routes outside /api/v1 need none. Defaults to admin. */
    minRole?: Role;
  }
  interface FastifyRequest {
    apiKey: ApiKey | null;
  }
}

const RANK: Record<Role, number> = { viewer: 1, service: 2, admin: 3 };

export function roleAllows(have: Role, need: Role): boolean {
  return RANK[have] >= RANK[need];
}

export interface KeyCache {
  lookup(key: string): Promise<ApiKey | null>;
  clear(): void;
}

export function createKeyCache(opts: { opsStore: OpsStore; clock: Clock; ttlMs: number; maxEntries?: number }): KeyCache {
  const maxEntries = opts.maxEntries ?? 10_000;
  // Promises, so concurrent requests with one key share one store query.
  const entries = new Map<string, { until: number; value: Promise<ApiKey | null> }>();

  return {
    lookup(key) {
      const hash = hashSecret(key);
      const now = opts.clock.now();
      const hit = entries.get(hash);
      if (hit && hit.until > now) return hit.value;
      if (hit) entries.delete(hash);
      const value = opts.opsStore.findApiKeyByHash(hash).then(
        (k) => (k && k.revokedAt === null ? k : null),
        (err: unknown) => {
          entries.delete(hash);
          throw isFleetdocError(err) ? err : errors.storeUnavailable('api key lookup failed', { cause: err });
        },
      );
      // Map keeps insertion order: drop the oldest when full (wrong keys must not grow it unbounded).
      if (entries.size >= maxEntries) {
        const oldest = entries.keys().next();
        if (!oldest.done) entries.delete(oldest.value);
      }
      entries.set(hash, { until: now + opts.ttlMs, value });
      return value;
    },
    clear() {
      entries.clear();
    },
  };
}

const BEARER_RE = /^Bearer +([\x21-\x7e]{1,512}) *$/i;

export function authenticate(cache: KeyCache): onRequestAsyncHookHandler {
  return async function authenticateRequest(request, reply) {
    const need = request.routeOptions.config.minRole ?? 'admin';
    const header = request.headers.authorization;
    const match = header === undefined ? null : BEARER_RE.exec(header);
    if (!match?.[1]) {
      void reply.header('www-authenticate', 'Bearer');
      throw errors.unauthorized(header === undefined ? 'missing Authorization: Bearer <api key>' : 'malformed Authorization header; expected Bearer <api key>');
    }
    const apiKey = await cache.lookup(match[1]);
    if (!apiKey) {
      void reply.header('www-authenticate', 'Bearer error="invalid_token"');
      throw errors.unauthorized('invalid or revoked api key');
    }
    if (!roleAllows(apiKey.role, need)) {
      throw errors.forbidden(`this needs the ${need} role; the key has ${apiKey.role}`);
    }
    request.apiKey = apiKey;
  };
}
