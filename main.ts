/**
 * `npm start`: the whole platform in one process — broker, ingest, api (and
 * later services) — with embedded stores unless INFLUX_URL / DATABASE_URL
 * are set.
 */
import { createStack } from './compose.ts';
import { loadConfig } from './core/config.ts';
import { isFleetdocError } from './core/errors.ts';
import { createLogger } from './core/logger.ts';

async function main(): Promise<void> {
  let config;
  try {
    config = loadConfig(process.env);
  } catch (err) {
    console.error(isFleetdocError(err) ? err.message : err);
    process.exit(2);
  }
  const logger = createLogger({ level: config.log.level });
  const stack = await createStack({ config, logger });
  await stack.start();

  const { mqtt, ws, tls } = stack.broker.addresses();
  const http = stack.api.address().port;
  const lines = [
    'fleetdoc is running',
    `  MQTT      mqtt://localhost:${mqtt}${ws ? `   ws://localhost:${ws}` : ''}${tls ? `   mqtts://localhost:${tls}` : ''}`,
    `  HTTP API  http://localhost:${http}/api/v1   docs: http://localhost:${http}/docs`,
    `  console   http://localhost:${http}/console/`,
    `  storage   telemetry: ${stack.telemetryStore.kind}, operational: ${stack.opsStore.kind} (DATA_DIR=${config.dataDir})`,
  ];
  if (stack.generatedAdminKey) {
    lines.push(`  admin API key (shown once, store it now): ${stack.generatedAdminKey}`);
  }
  process.stdout.write(lines.join('\n') + '\n');

  let shuttingDown = false;
  const shutdown = (signal: string) => {
    if (shuttingDown) return;
    shuttingDown = true;
    logger.info({ signal }, 'shutting down');
    const force = setTimeout(() => {
      logger.error('shutdown took too long; exiting');
      process.exit(1);
    }, 20_000);
    force.unref();
    stack.stop().then(
      () => process.exit(0),
      (err: unknown) => {
        logger.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', () => shutdown('SIGINT'));
  process.on('SIGTERM', () => shutdown('SIGTERM'));
}

main().catch((err: unknown) => {
  console.error('fleetdoc failed to start:', err);
  process.exit(1);
});
