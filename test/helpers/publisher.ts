import type { MqttClient } from 'mqtt';
import { topics } from '../../core/topics.ts';

/**
 * A device that publishes numbered QoS1 samples and records which ones the
 * broker acknowledged (PUBACK). Sample n has ts = t0 + n (unique per ms).
 */
export function startPublisher(client: MqttClient, deviceId: string, opts: { t0: number; ratePerS: number; maxInFlight?: number; limit?: number }) {
  const acked = new Set<number>();
  const sent: number[] = [];
  let next = 0;
  let inFlight = 0;
  let stopped = false;
  let lastAckAt = Date.now();
  const maxInFlight = opts.maxInFlight ?? 500;
  const tickMs = 10;
  const perTick = Math.max(1, Math.round((opts.ratePerS * tickMs) / 1000));
  const timer = setInterval(() => {
    // the test may end the client (or time out) while we are still scheduled
    if (client.disconnecting || (client.disconnected && !client.reconnecting)) {
      stopped = true;
      clearInterval(timer);
      return;
    }
    for (let i = 0; i < perTick && !stopped && inFlight < maxInFlight && (opts.limit === undefined || next < opts.limit); i++) {
      const n = next++;
      sent.push(n);
      inFlight++;
      const payload = JSON.stringify({ ts: opts.t0 + n, seq: n, metrics: { oilTempC: 60 + (n % 400) / 10, loaded: n % 2 === 0 } });
      try {
        client.publish(topics.telemetry(deviceId), payload, { qos: 1 }, (err) => {
          inFlight--;
          if (!err) {
            acked.add(n);
            lastAckAt = Date.now();
          }
        });
      } catch {
        inFlight--;
        stopped = true;
      }
    }
  }, tickMs);
  return {
    acked,
    sent,
    get inFlight() {
      return inFlight;
    },
    get lastAckAt() {
      return lastAckAt;
    },
    stop() {
      stopped = true;
      clearInterval(timer);
    },
  };
}
