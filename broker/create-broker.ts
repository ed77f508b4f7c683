import { readFileSync } from 'node:fs';
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { createServer as createNetServer, type AddressInfo, type Server as NetServer, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { createServer as createTlsServer, type Server as TlsServer } from 'node:tls';
import { Aedes, type AedesPublishPacket, type Client, type PublishPacket } from 'aedes';
import { createWebSocketStream, WebSocketServer } from 'ws';
import type { Clock } from '../core/clock.ts';
import type { Config } from '../core/config.ts';
import type { CommandMessage } from '../core/domain/command.ts';
import type { Logger } from '../core/logger.ts';
import type { Metrics } from '../core/metrics.ts';
import type { CommandPublisher, InboundGate, OpsStore, Service } from '../core/ports.ts';
import { topics } from '../core/topics.ts';
import { createAuthLimiter } from './auth-limiter.ts';
import { createAuthenticate } from './authenticate.ts';
import { createAuthorizeSubscribe, decidePublish } from './authorize.ts';
import { guardStream, type GuardedStream } from './frame-guard.ts';
import { createPresence } from './presence.ts';
import { Principals } from './principals.ts';

export interface BrokerDeps {
  config: Pick<Config, 'broker'>;
  logger: Logger;
  metrics: Metrics;
  clock: Clock;
  opsStore: OpsStore;
  gate: InboundGate;
}

export interface Broker extends Service, CommandPublisher {
  /** Bound ports (useful when configured as 0). */
  addresses(): { mqtt: number; ws: number | null; tls: number | null };
  /** Closes a device's connection, e.g. after it was disabled or its secret rotated. */
  disconnectDevice(deviceId: string): boolean;
}

/** Hard frame limit: payload limit plus room for the topic and headers. */
const PACKET_OVERHEAD_BYTES = 64 * 1024;

export function createBroker(deps: BrokerDeps): Broker {
  const { config, metrics, clock, opsStore, gate } = deps;
  const logger = deps.logger.child({ service: 'broker' });
  const principals = new Principals();
  const guards = new WeakMap<Client, GuardedStream>();
  const presence = createPresence({ opsStore, logger, metrics, clock });
  let aedes: Aedes | undefined;
  let tcp: NetServer | undefined;
  let tls: TlsServer | undefined;
  let http: HttpServer | undefined;
  let wss: WebSocketServer | undefined;
  let started = false;
  let stopping: Promise<void> | undefined;

  const limiter = createAuthLimiter({ ...config.broker.authLimits, now: () => clock.now() });
  const authenticate = createAuthenticate({
    opsStore,
    principals,
    logger,
    metrics,
    limiter,
    addressOf: (client) => (client.conn as Partial<GuardedStream>).remoteAddress,
  });
  const shedding = new WeakSet<Client>();

  /**
   * QoS0 carries no delivery promise: a subscriber that cannot keep up loses
   * QoS0 messages past its backlog bound instead of holding them in memory and
   * its publishers waiting (with `concurrency: 0` nothing else bounds them).
   */
  function authorizeForward(client: Client, packet: AedesPublishPacket): AedesPublishPacket | null {
    if (packet.qos !== 0) return packet;
    const guard = guards.get(client);
    if (!guard || guard.outboundBytes <= config.broker.subscriberBacklogBytes) {
      shedding.delete(client);
      return packet;
    }
    metrics.forwardsDropped.inc({ reason: 'slow_subscriber' });
    if (!shedding.has(client)) {
      shedding.add(client);
      logger.warn({ clientId: client.id, backlogBytes: guard.outboundBytes }, 'subscriber too slow: dropping QoS0 messages for it');
    }
    return null;
  }

  function authorizePublish(client: Client | null, packet: PublishPacket, cb: (err?: Error | null) => void): void {
    const principal = principals.get(client);
    const decision = decidePublish(principal, packet);
    if (!decision.allow) {
      metrics.refusedPublishes.inc();
      logger.warn({ clientId: client?.id, topic: packet.topic, reason: decision.reason }, 'publish refused');
      return cb(new Error(`publish refused: ${decision.reason}`));
    }
    if (decision.device === null) return cb(null);
    const { device, kind } = decision;
    // device → platform messages are never retained: they are facts at a time, not state
    packet.retain = false;
    presence.seen(device.id);
    metrics.messagesReceived.inc({ kind });
    const payload = typeof packet.payload === 'string' ? Buffer.from(packet.payload) : packet.payload;
    gate.accept({ device, kind, topic: packet.topic, payload, qos: packet.qos, receivedAt: clock.now() }).then(
      ({ forward }) => {
        // `$` topics match no wildcard subscription [MQTT-4.7.2-1]: a dead-lettered
        // message is acknowledged (the device keeps going) but reaches nobody.
        if (!forward) packet.topic = `$fleetdoc/dead-letter/${packet.topic}`;
        cb(null);
      },
      (err: unknown) => {
        logger.error({ err, deviceId: device.id }, 'inbound gate failed');
        cb(err instanceof Error ? err : new Error(String(err)));
      },
    );
  }

  function handle(inner: Duplex, remoteAddress: string | undefined): void {
    if (!aedes) return void inner.destroy();
    const conn: { client?: Client } = {};
    const guard = guardStream(inner, remoteAddress, {
      maxPacketBytes: config.broker.maxPayloadBytes + PACKET_OVERHEAD_BYTES,
      ratePerSecond: config.broker.maxMsgsPerSecond,
      burst: config.broker.burst,
      onViolation(reason) {
        metrics.clientsDisconnected.inc({ reason });
        logger.warn({ clientId: conn.client?.id, remoteAddress, reason }, 'client disconnected for misbehaviour');
      },
    });
    const client = aedes.handle(guard);
    conn.client = client;
    guards.set(client, guard);
    // aedes does not always say when a client taken over by another with its id has gone: its socket does
    inner.once('close', () => gone(client));
  }

  // counted from 'clientReady' (past CONNECT) to the first of 'clientDisconnect' or its socket closing
  const ready = new WeakSet<Client>();
  const closed = new WeakSet<Client>();
  function gone(client: Client): void {
    closed.add(client);
    if (!ready.delete(client)) return;
    metrics.connectedClients.dec();
    const p = principals.get(client);
    if (p?.kind === 'device') presence.offline(p.device.id, client);
  }

  function listen(server: NetServer | HttpServer, port: number, host: string): Promise<number> {
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        resolve((server.address() as AddressInfo).port);
      });
    });
  }

  const bound = { mqtt: 0, ws: null as number | null, tls: null as number | null };

  async function start(): Promise<void> {
    if (started) return;
    started = true;
    aedes = await Aedes.createBroker({
      id: 'fleetdoc',
      maxClientsIdLength: 64,
      // No shared delivery queue. With mqemitter's default of 100 slots, a subscriber that stops
      // reading holds every slot (each delivery waits for its `drain`) and all other messages
      // queue behind it; when it goes away its listener goes too, each queued message then
      // completes synchronously and mqemitter starts the next from inside the previous —
      // one stack frame set per message: RangeError, the process dies (test/hostile/qos0-flood.test.ts).
      // Unbounded here is still bounded: a publisher reads its next packets only after the
      // current ones were delivered, and authorizeForward drops QoS0 past a subscriber's backlog.
      concurrency: 0,
      // a frozen subscriber must not stall delivery for everyone
      drainTimeout: 10_000,
      heartbeatInterval: 60_000,
      connectTimeout: 10_000,
      preConnect(client, packet, cb) {
        if (!packet.clientId) principals.markEmptyClientId(client);
        cb(null, true);
      },
      authenticate(client, username, password, done) {
        authenticate(client, username, password).then(
          (ok) => done(null, ok),
          (err: unknown) => done(err as Parameters<typeof done>[0], false),
        );
      },
      authorizePublish,
      authorizeForward,
      authorizeSubscribe: createAuthorizeSubscribe((c) => principals.get(c), logger, metrics),
    });
    // 'clientDisconnect' also fires for clients that never got past CONNECT: count only ready ones
    aedes.on('clientReady', (client) => {
      // ready after its socket closed (authenticated while it went): never counted
      if (closed.has(client)) return;
      ready.add(client);
      metrics.connectedClients.inc();
      const p = principals.get(client);
      if (p?.kind === 'device') presence.online(p.device.id, client);
      else if (p?.kind === 'service') {
        const g = guards.get(client);
        if (g) g.exemptFromRateLimit = true;
      }
    });
    aedes.on('clientDisconnect', gone);
    aedes.on('clientError', (client, err) => logger.debug({ clientId: client?.id, err: err.message }, 'client error'));
    aedes.on('connectionError', (client, err) => logger.debug({ clientId: client?.id, err: err.message }, 'connection error'));

    await opsStore.resetPresence();
    presence.start();

    // no Nagle: a PUBACK (4 bytes, written in two parts) otherwise waits for the client's delayed ACK, about 40 ms
    tcp = createNetServer({ noDelay: true }, (socket: Socket) => handle(socket, socket.remoteAddress));
    bound.mqtt = await listen(tcp, config.broker.port, config.broker.host);
    if (config.broker.tls) {
      const { certFile, keyFile, port } = config.broker.tls;
      tls = createTlsServer({ cert: readFileSync(certFile), key: readFileSync(keyFile), noDelay: true }, (socket) => handle(socket, socket.remoteAddress));
      bound.tls = await listen(tls, port, config.broker.host);
    }
    if (config.broker.wsPort !== null) {
      http = createHttpServer((_req, res) => {
        res.writeHead(426, { 'content-type': 'text/plain' }).end('MQTT over WebSocket: upgrade required\n');
      });
      wss = new WebSocketServer({ server: http, maxPayload: config.broker.maxPayloadBytes + PACKET_OVERHEAD_BYTES });
      wss.on('connection', (ws, req) => handle(createWebSocketStream(ws), req.socket.remoteAddress));
      bound.ws = await listen(http, config.broker.wsPort, config.broker.host);
    }
    logger.info({ mqtt: bound.mqtt, ws: bound.ws, tls: bound.tls }, 'broker listening');
  }

  function closeServer(s: NetServer | HttpServer | undefined): Promise<void> {
    return new Promise((resolve) => (s ? s.close(() => resolve()) : resolve()));
  }

  async function doStop(): Promise<void> {
    if (!started) return;
    wss?.close();
    const closing = [closeServer(tcp), closeServer(tls), closeServer(http)];
    if (aedes) {
      const a = aedes;
      await new Promise<void>((resolve) => a.close(() => resolve()));
    }
    await Promise.all(closing);
    await presence.stop();
    logger.info('broker stopped');
  }

  return {
    start,
    stop(): Promise<void> {
      stopping ??= doStop();
      return stopping;
    },
    addresses: () => ({ ...bound }),
    connectedDevices: () => presence.count(),
    disconnectDevice(deviceId: string): boolean {
      const client = presence.client(deviceId);
      if (!client) return false;
      client.close();
      return true;
    },
    publishCommand(deviceId: string, message: CommandMessage): Promise<void> {
      const a = aedes;
      if (!a) return Promise.reject(new Error('broker not started'));
      return new Promise((resolve, reject) => {
        a.publish(
          { cmd: 'publish', topic: topics.commands(deviceId), payload: Buffer.from(JSON.stringify(message)), qos: 1, retain: false, dup: false },
          (err) => (err ? reject(err) : resolve()),
        );
        metrics.commandsSent.inc();
      });
    },
  };
}
