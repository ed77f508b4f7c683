import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { generateSecret } from '../../core/secrets.ts';
import { freePort, waitFor } from './ports.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/**
 * `npm start`'s entry point as its own process (so a test can SIGKILL it), on
 * free loopback ports with its data in dataDir; `extra` adds or overrides
 * environment. Start it again with the same env to restart on the same data.
 */
export async function fleetdocProcess(dataDir: string, extra: Record<string, string> = {}) {
  const [mqttPort, httpPort] = [await freePort(), await freePort()];
  const adminKey = generateSecret('fd_');
  const env = {
    DATA_DIR: dataDir,
    MQTT_HOST: '127.0.0.1',
    HTTP_HOST: '127.0.0.1',
    MQTT_PORT: String(mqttPort),
    HTTP_PORT: String(httpPort),
    MQTT_WS_PORT: 'off',
    FLEETDOC_ADMIN_KEY: adminKey,
    LOG_LEVEL: 'warn',
    ...extra,
  };
  const api = `http://127.0.0.1:${httpPort}`;
  return {
    mqttPort,
    api,
    auth: { authorization: `Bearer ${adminKey}`, 'content-type': 'application/json' },
    start(): ChildProcess {
      const child = spawn(process.execPath, ['--import', 'tsx', 'main.ts'], { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'pipe'] });
      child.stderr?.resume();
      return child;
    },
    healthy: () => waitFor(() => fetch(`${api}/health`).then((r) => r.ok), { timeoutMs: 180_000, what: 'fleetdoc /health' }),
  };
}
