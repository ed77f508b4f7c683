import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { Command } from '../../core/domain/command.ts';
import { errors } from '../../core/errors.ts';
import type { RouteDeps } from '../deps.ts';
import { DeviceParams, SendCommandBody, notFoundErrors, queryInt } from '../schemas.ts';
import { requireDevice } from './devices.ts';

const tags = ['commands'];

export function commandRoutes({ opsStore, commands, clock, metrics, log }: RouteDeps): FastifyPluginAsyncZod {
  return async (app) => {
    app.post('/devices/:id/commands', {
      config: { minRole: 'service' },
      schema: {
        tags,
        summary: 'Send a command; it expires unless the device acknowledges it in time',
        params: DeviceParams,
        body: SendCommandBody,
        response: { 201: Command, ...notFoundErrors, 409: notFoundErrors[404], 503: notFoundErrors[404] },
      },
      handler: async (req, reply) => {
        const device = await requireDevice(opsStore, req.params.id);
        if (device.status === 'disabled') throw errors.deviceDisabled(`device ${device.id} is disabled`);
        const now = clock.now();
        const { name, params, expiresInS } = req.body;
        const command = await opsStore.createCommand({ deviceId: device.id, name, params, expiresAt: now + expiresInS * 1000, now });
        try {
          await commands.publishCommand(device.id, { commandId: command.id, name: command.name, params: command.params, expiresAt: command.expiresAt });
        } catch (err) {
          log.warn({ err, deviceId: device.id, commandId: command.id }, 'command publish failed');
          await opsStore.advanceCommand(device.id, command.id, 'failed', 'could not be published to the broker', clock.now()).catch(() => null);
          throw errors.commandPublishFailed(`command ${command.id} could not be published`, { cause: err });
        }
        metrics.commandsSent.inc();
        return reply.code(201).send(command);
      },
    });

    app.get('/devices/:id/commands', {
      config: { minRole: 'viewer' },
      schema: {
        tags,
        summary: 'Commands sent to the device, newest first',
        params: DeviceParams,
        querystring: z.object({ limit: queryInt({ min: 1, max: 1000, default: 100 }) }),
        response: { 200: z.array(Command), ...notFoundErrors },
      },
      handler: async (req) => {
        const device = await requireDevice(opsStore, req.params.id);
        return opsStore.listCommands(device.id, req.query.limit);
      },
    });

    app.get('/devices/:id/commands/:commandId', {
      config: { minRole: 'viewer' },
      schema: {
        tags,
        summary: 'One command and where it stands',
        params: DeviceParams.extend({ commandId: z.string().min(1).max(64) }),
        response: { 200: Command, ...notFoundErrors },
      },
      handler: async (req) => {
        const command = await opsStore.getCommand(req.params.commandId);
        if (!command || command.deviceId !== req.params.id) {
          throw errors.commandNotFound(`command ${req.params.commandId} not found for device ${req.params.id}`);
        }
        return command;
      },
    });
  };
}
