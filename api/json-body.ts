/**
 * JSON request bodies: fastify's own parser (prototype poisoning refused),
 * then two checks before any route sees the body, each a 400 instead of a
 * 500 further on:
 * - text PostgreSQL cannot store — U+0000 and lone surrogates (half an
 *   emoji), in keys or values — which would fail at the insert (ingest, which
 *   must not lose a device's message, replaces them instead: storable());
 * - nesting deeper than MAX_DEPTH, which would overflow the stack of the
 *   recursive schemas (a rule's condition tree) before their own depth limit
 *   is checked.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { storableText } from '../core/domain/common.ts';
import { errors } from '../core/errors.ts';

/** Far deeper than any body the api takes (a rule set with conditions nested 6 deep is about 16). */
export const MAX_DEPTH = 64;

/** What is wrong with a parsed body, and where (`body.rules[0].description: …`), or null. */
export function bodyProblem(value: unknown, path = 'body', depth = 0): string | null {
  if (typeof value === 'string') return storableText(value) ? null : `${path}: ${UNSTORABLE}`;
  if (value === null || typeof value !== 'object') return null;
  if (depth >= MAX_DEPTH) return `${path}: nests deeper than ${MAX_DEPTH} levels`;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const p = bodyProblem(value[i], `${path}[${i}]`, depth + 1);
      if (p !== null) return p;
    }
    return null;
  }
  for (const [k, v] of Object.entries(value)) {
    if (!storableText(k)) return `${path}: a key has ${UNSTORABLE}`;
    const p = bodyProblem(v, `${path}.${k}`, depth + 1);
    if (p !== null) return p;
  }
  return null;
}

const UNSTORABLE = 'text with U+0000 or a lone surrogate (an unpaired half of a UTF-16 pair) cannot be stored';

export function jsonBodies(app: Pick<FastifyInstance, 'getDefaultJsonParser' | 'removeContentTypeParser' | 'addContentTypeParser'>): void {
  const parse = app.getDefaultJsonParser('error', 'error');
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (req: FastifyRequest, body: string | Buffer, done: (err: Error | null, body?: unknown) => void) => {
    parse(req, body.toString(), (err: Error | null, value?: unknown) => {
      if (err) return done(err);
      const problem = bodyProblem(value);
      if (problem !== null) return done(errors.badRequest(problem));
      done(null, value);
    });
  });
}
