import type { FastifyReply } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { Slug } from '../../core/domain/common.ts';
import { Diagnosis, DiagnosisStatus } from '../../core/domain/diagnosis.ts';
import { Severity } from '../../core/domain/rule.ts';
import { errors } from '../../core/errors.ts';
import type { DiagnosisFilter } from '../../core/ports.ts';
import type { RouteDeps } from '../deps.ts';
import { DeviceParams, TimeQuery, notFoundErrors, queryInt } from '../schemas.ts';
import { requireDevice } from './devices.ts';

const tags = ['diagnoses'];

const DiagnosisQuery = z.object({
  type: Slug.optional().describe('Device type'),
  fault: Slug.optional().describe('Fault code, e.g. ac-cooler-fouling or anomaly'),
  severity: Severity.optional(),
  status: DiagnosisStatus.optional(),
  from: TimeQuery.optional().describe('raisedAt ≥ from (event time)'),
  to: TimeQuery.optional().describe('raisedAt < to'),
  limit: queryInt({ min: 1, max: 10_000, default: 100 }),
  offset: queryInt({ min: 0, max: 100_000_000, default: 0 }).describe('Skip this many (paging; a full page links the next one)'),
});

// Diagnoses come from our own store: the response schema documents them, JSON.stringify sends them.
const DiagnosisList = z.array(Diagnosis).describe('Newest raisedAt first');

function filterOf(q: z.infer<typeof DiagnosisQuery>): DiagnosisFilter {
  if (q.from !== undefined && q.to !== undefined && q.from >= q.to) throw errors.validation('from must be before to');
  return { type: q.type, fault: q.fault, severity: q.severity, status: q.status, from: q.from, to: q.to, limit: q.limit, offset: q.offset };
}

/** A full page links the next one (`Link: <…offset=…>; rel="next"`): same filters, offset moved on by the page. */
function linkNext(reply: FastifyReply, url: string, q: z.infer<typeof DiagnosisQuery>, n: number): void {
  if (n < q.limit) return;
  const u = new URL(url, 'http://x');
  u.searchParams.set('offset', String(q.offset + n));
  void reply.header('link', `<${u.pathname}${u.search}>; rel="next"`);
}

export function diagnosisRoutes({ opsStore }: RouteDeps): FastifyPluginAsyncZod {
  return async (app) => {
    app.get('/diagnoses', {
      config: { minRole: 'viewer' },
      schema: { tags, summary: 'Diagnoses across the fleet', querystring: DiagnosisQuery, response: { 200: DiagnosisList, ...notFoundErrors } },
      handler: async (req, reply) => {
        const items = await opsStore.listDiagnoses(filterOf(req.query));
        linkNext(reply, req.url, req.query, items.length);
        void reply.type('application/json; charset=utf-8').serializer(JSON.stringify);
        return items;
      },
    });

    app.get('/devices/:id/diagnoses', {
      config: { minRole: 'viewer' },
      schema: { tags, summary: 'A device’s diagnoses', params: DeviceParams, querystring: DiagnosisQuery, response: { 200: DiagnosisList, ...notFoundErrors } },
      handler: async (req, reply) => {
        const device = await requireDevice(opsStore, req.params.id);
        const items = await opsStore.listDiagnoses({ ...filterOf(req.query), deviceId: device.id });
        linkNext(reply, req.url, req.query, items.length);
        void reply.type('application/json; charset=utf-8').serializer(JSON.stringify);
        return items;
      },
    });
  };
}
