/**
 * The MQTT contract: every topic fleetdoc uses is built and parsed here.
 *
 * device → platform: devices/{id}/telemetry | events | status | commands/ack
 * platform → device: devices/{id}/commands
 */
import { CommandAck, CommandMessage } from './domain/command.ts';
import { EventPayload, StatusPayload } from './domain/event.ts';
import { TelemetryPayload } from './domain/telemetry.ts';

export const topics = {
  telemetry: (deviceId: string) => `devices/${deviceId}/telemetry`,
  events: (deviceId: string) => `devices/${deviceId}/events`,
  status: (deviceId: string) => `devices/${deviceId}/status`,
  commandAck: (deviceId: string) => `devices/${deviceId}/commands/ack`,
  commands: (deviceId: string) => `devices/${deviceId}/commands`,
} as const;

/** Topic kinds a device may publish to (its own only). */
export const DEVICE_PUBLISH_KINDS = ['telemetry', 'events', 'status', 'commandAck'] as const;
export type DevicePublishKind = (typeof DEVICE_PUBLISH_KINDS)[number];
export type TopicKind = DevicePublishKind | 'commands';

/** Payload schema per topic kind (the zigbee2mqtt-style map). */
export const payloadSchemas = {
  telemetry: TelemetryPayload,
  events: EventPayload,
  status: StatusPayload,
  commandAck: CommandAck,
  commands: CommandMessage,
} as const;

export interface ParsedTopic {
  deviceId: string;
  kind: TopicKind;
}

const SUFFIX: Record<string, TopicKind> = {
  telemetry: 'telemetry',
  events: 'events',
  status: 'status',
  commands: 'commands',
  'commands/ack': 'commandAck',
};

/** Parses a fleetdoc topic; undefined for anything outside the contract. */
export function parseTopic(topic: string): ParsedTopic | undefined {
  if (!topic.startsWith('devices/')) return undefined;
  const rest = topic.slice('devices/'.length);
  const slash = rest.indexOf('/');
  if (slash <= 0) return undefined;
  const deviceId = rest.slice(0, slash);
  const kind = SUFFIX[rest.slice(slash + 1)];
  return kind ? { deviceId, kind } : undefined;
}

export function isDevicePublishKind(kind: TopicKind): kind is DevicePublishKind {
  return kind !== 'commands';
}
