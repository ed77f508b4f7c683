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
  after: z
    .string()
    .regex(/^\d{1,16}_[A-Za-z0-9-]{1,64}$/, 'expected the after= of a Link rel="next"')
    .optional()
    .describe('The next page: copied from the `Link: <…>; rel="next"` header of a full page (the last row’s raisedAt and id)'),
});

// Diagnoses come from our own store: the response schema documents them, JSON.stringify sends them.
const DiagnosisList = z.array(Diagnosis).describe('Newest raisedAt first');

function filterOf(q: z.infer<typeof DiagnosisQuery>): DiagnosisFilter {
  if (q.from !== undefined && q.to !== undefined && q.from >= q.to) throw errors.validation('from must be before to');
  const after = q.after === undefined ? undefined : { raisedAt: Number(q.after.slice(0, q.after.indexOf('_'))), id: q.after.slice(q.after.indexOf('_') + 1) };
  return { type: q.type, fault: q.fault, severity: q.severity, status: q.status, from: q.from, to: q.to, limit: q.limit, after };
}

/**
 * A full page links the next one (`Link: <…after=…>; rel="next"`): same filters, after its last row. Keyed on
 * the row, not a count, so diagnoses raised or cleared while someone pages neither repeat nor go missing.
 */
function linkNext(reply: FastifyReply, url: string, limit: number, items: readonly Diagnosis[]): void {
  const last = items.at(-1);
  if (items.length < limit || !last) return;
  const u = new URL(url, 'http://x');
  u.searchParams.set('after', `${Date.parse(last.raisedAt)}_${last.id}`);
  void reply.header('link', `<${u.pathname}${u.search}>; rel="next"`);
}

export function diagnosisRoutes({ opsStore }: RouteDeps): FastifyPluginAsyncZod {
  return async (app) => {
    app.get('/diagnoses', {
      config: { minRole: 'viewer' },
      schema: { tags, summary: 'Diagnoses across the fleet', querystring: DiagnosisQuery, response: { 200: DiagnosisList, ...notFoundErrors } },
      handler: async (req, reply) => {
        const items = await opsStore.listDiagnoses(filterOf(req.query));
        linkNext(reply, req.url, req.query.limit, items);
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
        linkNext(reply, req.url, req.query.limit, items);
        void reply.type('application/json; charset=utf-8').serializer(JSON.stringify);
        return items;
      },
    });
  };
}
