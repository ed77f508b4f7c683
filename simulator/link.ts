/**
 * One device's MQTT connection: its own client id and credentials, QoS 1,
 * `offline` as its last will, subscribed to its own commands topic.
 */
import mqtt, { type MqttClient } from 'mqtt';
import { topics } from '../core/topics.ts';

export interface LinkOptions {
  mqttUrl: string;
  id: string;
  secret: string;
  onCommand(payload: Buffer): void;
  onError?(err: Error): void;
}

export class DeviceLink {
  private client: MqttClient | null = null;
  private connecting: Promise<void> | null = null;
  inflight = 0;

  constructor(private readonly o: LinkOptions) {}

  get connected(): boolean {
    return this.client?.connected === true;
  }

  get busy(): boolean {
    return this.connecting !== null;
  }

  connect(): Promise<void> {
    if (this.connected) return Promise.resolve();
    if (this.connecting) return this.connecting;
    const existing = this.client;
    if (existing) {
      // mqtt.js reconnects by itself (reconnectPeriod): a second client would fight the first over the clientId
      this.connecting = new Promise<void>((resolve) =>
        existing.once('connect', () => {
          this.connecting = null;
          resolve();
        }),
      );
      return this.connecting;
    }
    const { id, secret, mqttUrl } = this.o;
    this.connecting = new Promise<void>((resolve, reject) => {
      const client = mqtt.connect(mqttUrl, {
        clientId: id,
        username: id,
        password: secret,
        clean: true,
        keepalive: 120,
        reconnectPeriod: 3000,
        // a refused reconnect (CONNACK 3 while the platform's store is down) must not end the reconnecting for good
        reconnectOnConnackError: true,
        connectTimeout: 30_000,
        resubscribe: true,
        will: { topic: topics.status(id), payload: Buffer.from('offline'), qos: 1, retain: false },
      });
      this.client = client;
      let first = true;
      client.on('connect', () => {
        client.subscribe(topics.commands(id), { qos: 1 }, (err) => {
          if (err) this.o.onError?.(err);
        });
        client.publish(topics.status(id), 'online', { qos: 1 });
        if (first) {
          first = false;
          this.connecting = null;
          resolve();
        }
      });
      client.on('message', (topic, payload) => {
        if (topic === topics.commands(id)) this.o.onCommand(payload);
      });
      client.on('error', (err) => {
        if (first) {
          first = false;
          this.connecting = null;
          if (this.client === client) this.client = null;
          client.end(true);
          reject(new Error(`${id}: MQTT connect failed: ${err.message}`, { cause: err }));
        } else {
          this.o.onError?.(err);
        }
      });
    });
    return this.connecting;
  }

  /** QoS 1 publish; resolves on PUBACK. */
  publish(topic: string, payload: string): Promise<void> {
    const c = this.client;
    if (!c) return Promise.reject(new Error(`${this.o.id}: not connected`));
    this.inflight++;
    return new Promise<void>((resolve, reject) => {
      c.publish(topic, payload, { qos: 1 }, (err) => {
        this.inflight--;
        if (err) reject(err);
        else resolve();
      });
    });
  }

  /** Goes offline (an offline spell or the end of the run): a clean disconnect. */
  async close(): Promise<void> {
    const c = this.client;
    this.client = null;
    this.connecting = null;
    if (c) await c.endAsync(false).catch(() => undefined);
  }
}
