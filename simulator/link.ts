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
      this.connecting = new Promise<void>((resolve, reject) => {
        const done = (err?: Error) => {
          existing.off('connect', onConnect);
          existing.off('end', onEnd);
          this.connecting = null;
          if (err) reject(err);
          else resolve();
        };
        const onConnect = () => done();
        // ended: refused for good (see the error handler) or closed
        const onEnd = () => done(new Error(`${this.o.id}: MQTT connection ended`));
        existing.on('connect', onConnect);
        existing.on('end', onEnd);
      });
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
        // a refused reconnect (CONNACK 3 while the platform's store is down) must not end the reconnecting for good;
        // 4 and 5 end it (the error handler)
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
          // refused for good (4: its secret no longer matches, 5: disabled): no reconnecting every 3 s for the rest of the run
          const code = (err as { code?: unknown }).code;
          if ((code === 4 || code === 5) && this.client === client) {
            this.client = null;
            this.connecting = null;
            client.end(true);
          }
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
    // a clean DISCONNECT needs a connection: one that is down (reconnecting) is just ended
    if (c) await c.endAsync(!c.connected).catch(() => undefined);
  }
}
