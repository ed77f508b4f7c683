/**
 * The api's one error handler. Validation problems → 400 with the issues;
 * FleetdocError → its status; fastify's own 4xx (bad JSON, body too large,
 * unsupported media type, bad URL) keep their status; anything else → 500
 * with a generic message, logged with `{ err }`.
 */
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { hasZodFastifySchemaValidationErrors } from 'fastify-type-provider-zod';
import { errors, isFleetdocError } from '../core/errors.ts';

const BAD_REQUEST = errors.badRequest.code;

interface ErrorPayload {
  code: string;
  message: string;
  issues?: Array<{ path: string; message: string }>;
  details?: unknown;
}

function validationPayload(err: FastifyError & { validation: Array<{ instancePath: string; message?: string }> }): ErrorPayload {
  const where = err.validationContext ?? 'request';
  const issues = err.validation.map((v) => ({
    path: `${where}${v.instancePath === '/' ? '' : v.instancePath.replaceAll('/', '.')}`,
    message: v.message ?? 'invalid',
  }));
  const message = issues.map((i) => `${i.path}: ${i.message}`).join('; ');
  return { code: errors.validation.code, message: `invalid ${where}: ${message}`.slice(0, 2000), issues };
}

export function errorHandler(err: FastifyError, request: FastifyRequest, reply: FastifyReply): void {
  if (hasZodFastifySchemaValidationErrors(err)) {
    void reply.code(400).send(validationPayload(err));
    return;
  }
  if (isFleetdocError(err)) {
    if (err.statusCode >= 500) request.log.error({ err }, err.message);
    const payload: ErrorPayload = { code: err.code, message: err.message };
    if (err.details !== undefined) payload.details = err.details;
    void reply.code(err.statusCode).send(payload);
    return;
  }
  const status = typeof err.statusCode === 'number' ? err.statusCode : 500;
  if (status >= 400 && status < 500) {
    // fastify's own client errors (FST_ERR_CTP_*, FST_ERR_BAD_URL, …) and JSON syntax errors
    void reply.code(status).send({ code: typeof err.code === 'string' ? err.code : BAD_REQUEST, message: err.message });
    return;
  }
  request.log.error({ err }, 'request failed');
  void reply.code(500).send({ code: 'FLEETDOC_ERR_INTERNAL', message: 'internal error' });
}

export function notFoundHandler(request: FastifyRequest, reply: FastifyReply): void {
  const path = (request.url.split('?')[0] ?? '').slice(0, 200);
  void reply.code(404).send({ code: errors.notFound.code, message: `no route ${request.method} ${path}` });
}

/** Errors fastify raises before routing (a URL that does not decode): same shape as the rest. */
export function frameworkErrors(err: FastifyError, _request: FastifyRequest, reply: FastifyReply): void {
  void reply.code(err.statusCode && err.statusCode < 500 ? err.statusCode : 400).send({ code: err.code, message: err.message });
}
