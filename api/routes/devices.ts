import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { BulkRegisterDevices, Device, RegisterDevice, UpdateDevice } from '../../core/domain/device.ts';
import { MODEL_ONLY_FAULT } from '../../core/domain/diagnosis.ts';
import { RecalibrateRequest, Recalibration } from '../../core/domain/recalibration.ts';
import { errors } from '../../core/errors.ts';
import type { OpsStore } from '../../core/ports.ts';
import type { RouteDeps } from '../deps.ts';
import { ruleSetReader } from '../rule-sets.ts';
import { DeviceDetail, DeviceListQuery, DeviceParams, DeviceWithSecretBody, notFoundErrors, queryInt } from '../schemas.ts';

const tags = ['devices'];

export async function requireDevice(opsStore: OpsStore, id: string) {
  const device = await opsStore.getDevice(id);
  if (!device) throw errors.deviceNotFound(`device ${id} not found`);
  return device;
}

export function deviceRoutes(deps: RouteDeps): FastifyPluginAsyncZod {
  const { opsStore, telemetryStore, commands, onRecalibrationRequested } = deps;
  const ruleSets = ruleSetReader(opsStore);

  /** Refuses fault codes the device can have no diagnosis of: a typo would otherwise reset nothing. */
  async function checkFaults(device: { id: string; type: string }, faults: readonly string[]): Promise<void> {
    const known = new Set([MODEL_ONLY_FAULT, ...(await ruleSets.current(device.type)).ruleSet.rules.map((r) => r.fault)]);
    for (const d of await opsStore.listDiagnoses({ deviceId: device.id, status: 'active', limit: 1000 })) known.add(d.fault);
    const unknown = faults.filter((f) => !known.has(f));
    if (unknown.length) {
      throw errors.validation(`faults: ${unknown.join(', ')} is no fault of type ${device.type} (its faults: ${[...known].sort().join(', ')})`);
    }
  }

  return async (app) => {
    app.post('/devices', {
      config: { minRole: 'service' },
      schema: {
        tags,
        summary: 'Register a device; the secret is returned only here',
        body: RegisterDevice,
        response: { 201: DeviceWithSecretBody, ...notFoundErrors, 409: notFoundErrors[404] },
      },
      handler: async (req, reply) => {
        const [created] = await opsStore.registerDevices([req.body]);
        if (!created) throw new Error('registerDevices returned nothing');
        return reply.code(201).send(created);
      },
    });

    app.post('/devices/bulk', {
      config: { minRole: 'service' },
      // 10,000 devices with every label at its longest stay under 8 MiB.
      bodyLimit: 8 * 1024 * 1024,
      schema: {
        tags,
        summary: 'Register up to 10,000 devices atomically',
        body: BulkRegisterDevices,
        response: { 201: z.object({ devices: z.array(DeviceWithSecretBody) }), ...notFoundErrors, 409: notFoundErrors[404] },
      },
      handler: async (req, reply) => {
        const ids = new Set<string>();
        for (const [i, d] of req.body.devices.entries()) {
          if (d.id === undefined) continue;
          if (ids.has(d.id)) throw errors.validation(`devices.${i}.id: ${d.id} appears twice`);
          ids.add(d.id);
        }
        const devices = await opsStore.registerDevices(req.body.devices);
        return reply.code(201).send({ devices });
      },
    });

    app.get('/devices', {
      config: { minRole: 'viewer' },
      schema: {
        tags,
        summary: 'List devices',
        querystring: DeviceListQuery,
        response: { 200: z.object({ items: z.array(Device), total: z.number().int() }), ...notFoundErrors },
      },
      handler: async (req) => opsStore.listDevices(req.query),
    });

    app.get('/devices/:id', {
      config: { minRole: 'viewer' },
      schema: {
        tags,
        summary: 'A device with its latest telemetry',
        params: DeviceParams,
        response: { 200: DeviceDetail, ...notFoundErrors },
      },
      handler: async (req) => {
        const device = await requireDevice(opsStore, req.params.id);
        let latest;
        try {
          latest = await telemetryStore.latest(device.id, device.type);
        } catch (err) {
          throw errors.storeUnavailable('telemetry store unavailable', { cause: err });
        }
        return { ...device, latest };
      },
    });

    app.patch('/devices/:id', {
      config: { minRole: 'service' },
      schema: {
        tags,
        summary: 'Disable or enable a device, or edit its labels (null clears one)',
        params: DeviceParams,
        body: UpdateDevice,
        response: { 200: Device, ...notFoundErrors },
      },
      handler: async (req) => {
        const device = await opsStore.updateDevice(req.params.id, req.body);
        if (!device) throw errors.deviceNotFound(`device ${req.params.id} not found`);
        // a disabled device loses its live connection too, not only future ones
        if (device.status === 'disabled') commands.disconnectDevice(device.id);
        return device;
      },
    });

    app.post('/devices/:id/disable', {
      config: { minRole: 'service' },
      schema: {
        tags,
        summary: 'Disable a device: the broker refuses it from now on',
        params: DeviceParams,
        response: { 200: Device, ...notFoundErrors },
      },
      handler: async (req) => {
        const device = await opsStore.updateDevice(req.params.id, { status: 'disabled' });
        if (!device) throw errors.deviceNotFound(`device ${req.params.id} not found`);
        commands.disconnectDevice(device.id);
        return device;
      },
    });

    app.post('/devices/:id/secret', {
      config: { minRole: 'service' },
      schema: {
        tags,
        summary: 'Rotate the device secret; the old one stops working',
        params: DeviceParams,
        response: { 200: z.object({ secret: z.string() }), ...notFoundErrors },
      },
      handler: async (req) => {
        const secret = await opsStore.rotateDeviceSecret(req.params.id);
        if (secret === null) throw errors.deviceNotFound(`device ${req.params.id} not found`);
        commands.disconnectDevice(req.params.id);
        return { secret };
      },
    });

    app.post('/devices/:id/recalibrate', {
      config: { minRole: 'service' },
      schema: {
        tags,
        summary: "Recalibrate a device after a repair, a part swap or a move: diagnosis forgets its learnt normal and learns it again",
        description:
          "The rule baselines and windows and the anomaly model's calibration of the device are dropped, with its checkpoint; " +
          'its next samples calibrate it again (anomaly 0 meanwhile). resolveActive (default true) also clears its active diagnoses; ' +
          'a fault still present is raised again on fresh evidence. Applied by the diagnosis service within its poll interval: ' +
          'appliedAt in GET /devices/:id/recalibrations says when.',
        params: DeviceParams,
        body: RecalibrateRequest.nullable().transform((b) => b ?? { resolveActive: true }),
        response: { 202: Recalibration, ...notFoundErrors },
      },
      handler: async (req, reply) => {
        const device = await requireDevice(opsStore, req.params.id);
        if (req.body.faults) await checkFaults(device, req.body.faults);
        const r = await opsStore.requestRecalibration(device.id, req.body);
        // the diagnosis service in this process applies it at once; one elsewhere at its next poll
        // (it logs its own failures; the request stays pending for the next poll)
        void onRecalibrationRequested?.();
        return reply.code(202).send(r);
      },
    });

    app.get('/devices/:id/recalibrations', {
      config: { minRole: 'viewer' },
      schema: {
        tags,
        summary: "A device's recalibrations, newest first",
        params: DeviceParams,
        querystring: z.object({ limit: queryInt({ min: 1, max: 1000, default: 50 }) }),
        response: { 200: z.array(Recalibration), ...notFoundErrors },
      },
      handler: async (req) => {
        const device = await requireDevice(opsStore, req.params.id);
        return opsStore.listRecalibrations(device.id, req.query.limit);
      },
    });
  };
}
