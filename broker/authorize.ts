import type { Client, Subscription } from 'aedes';
import type { PublishPacket } from 'aedes';
import type { Logger } from '../core/logger.ts';
import type { Metrics } from '../core/metrics.ts';
import type { Principal } from '../core/ports.ts';
import { isDevicePublishKind, parseTopic, topics } from '../core/topics.ts';

export type PublishDecision =
  | { allow: false; reason: string }
  | { allow: true; device: Extract<Principal, { kind: 'device' }>['device']; kind: NonNullable<ReturnType<typeof deviceKind>> }
  | { allow: true; device: null };

function deviceKind(topic: string, deviceId: string) {
  const parsed = parseTopic(topic);
  if (!parsed || parsed.deviceId !== deviceId || !isDevicePublishKind(parsed.kind)) return undefined;
  return parsed.kind;
}

/**
 * A device may publish only to its own device → platform topics. Service
 * clients may publish commands to any device, and nothing else.
 */
export function decidePublish(principal: Principal | undefined, packet: PublishPacket): PublishDecision {
  if (packet.topic.startsWith('$')) return { allow: false, reason: 'reserved topic' };
  if (!principal) return { allow: false, reason: 'unauthenticated' };
  if (principal.kind === 'service') {
    const parsed = parseTopic(packet.topic);
    return parsed?.kind === 'commands' ? { allow: true, device: null } : { allow: false, reason: 'service clients publish commands only' };
  }
  const kind = deviceKind(packet.topic, principal.device.id);
  return kind ? { allow: true, device: principal.device, kind } : { allow: false, reason: 'not this device\'s topic' };
}

const SERVICE_SUBSCRIBE_RE = /^devices\/(\+|[^/+#]+)\/(telemetry|events|status|commands|commands\/ack|\+|#)$|^devices\/#$/;

/**
 * Devices subscribe only to their own commands topic; services to device
 * topics. A refused subscription gets SUBACK 0x80, never a silent success.
 */
export function createAuthorizeSubscribe(principalOf: (c: Client) => Principal | undefined, logger: Logger, metrics: Metrics) {
  return function authorizeSubscribe(client: Client, sub: Subscription, cb: (err: Error | null, sub: Subscription | null) => void): void {
    const p = principalOf(client);
    let ok = false;
    if (p?.kind === 'device') ok = sub.topic === topics.commands(p.device.id);
    else if (p?.kind === 'service') ok = SERVICE_SUBSCRIBE_RE.test(sub.topic);
    if (!ok) {
      metrics.refusedPublishes.inc(0);
      logger.warn({ clientId: client.id, topic: sub.topic }, 'subscription refused');
      return cb(null, null);
    }
    if (sub.qos > 1) sub.qos = 1;
    cb(null, sub);
  };
}
