import type { AuthenticateError, Client } from 'aedes';
import type { Logger } from '../core/logger.ts';
import type { Metrics } from '../core/metrics.ts';
import type { OpsStore } from '../core/ports.ts';
import { hashSecret, verifySecret } from '../core/secrets.ts';
import type { AuthLimiter } from './auth-limiter.ts';
import type { Principals } from './principals.ts';

/** Username that marks a service client: the password is then an API key. */
export const SERVICE_USERNAME = 'apikey';

// CONNACK return codes, MQTT 3.1.1 §3.2.2.3
const IDENTIFIER_REJECTED = 2;
// "Server unavailable": clients back off and retry, which is what a throttled guesser — or a
// real device behind the same address — should do
const SERVER_UNAVAILABLE = 3;
const BAD_USERNAME_OR_PASSWORD = 4;
const NOT_AUTHORIZED = 5;

function refuse(returnCode: number, message: string): AuthenticateError {
  const err = new Error(message) as AuthenticateError;
  err.returnCode = returnCode;
  return err;
}

export interface AuthenticateDeps {
  opsStore: OpsStore;
  principals: Principals;
  logger: Logger;
  metrics: Metrics;
  limiter: AuthLimiter;
  /** The client's remote address (from the frame guard), for per-address throttling. */
  addressOf(client: Client): string | undefined;
}

/**
 * Devices: username = deviceId = clientId, password = the secret issued at
 * registration (stored only as a SHA-256 hash). Service clients: username
 * `apikey`, password = an API key with role service or admin.
 */
export function createAuthenticate({ opsStore, principals, logger, metrics, limiter, addressOf }: AuthenticateDeps) {
  const recordFailure = (address: string | undefined, deviceId: string | undefined) => {
    limiter.recordFailure(address, deviceId);
    const size = limiter.size();
    metrics.authLimiterKeys.set({ table: 'address' }, size.addresses);
    metrics.authLimiterKeys.set({ table: 'device' }, size.devices);
  };
  const fail = (reason: string, code: number, message: string, client: Client) => {
    metrics.authFailures.inc({ reason });
    logger.info({ clientId: client.id, reason }, 'mqtt connection refused');
    return refuse(code, message);
  };

  /** A store that does not answer is the platform's problem, not the device's: 3 (server unavailable), and it retries. */
  const lookup = async <T>(query: () => Promise<T>, client: Client): Promise<T> => {
    try {
      return await query();
    } catch (err) {
      metrics.authFailures.inc({ reason: 'store_unavailable' });
      logger.warn({ err, clientId: client.id }, 'mqtt connection refused: the operational store did not answer');
      throw refuse(SERVER_UNAVAILABLE, 'credentials cannot be checked now; retry later');
    }
  };

  return async function authenticate(client: Client, username: string | undefined, password: Buffer | undefined): Promise<true> {
    const address = addressOf(client);
    // a device's id is its username; API keys are throttled per address only, or one
    // guesser could lock every service client out
    const claimedDevice = username && username !== SERVICE_USERNAME ? username : undefined;
    const limitedBy = limiter.check(address, claimedDevice);
    if (limitedBy) {
      metrics.authFailures.inc({ reason: 'rate_limited' });
      // debug: a guesser hammering away must not flood the log either
      logger.debug({ clientId: client.id, remoteAddress: address, limitedBy }, 'mqtt connection refused: too many failed authentications');
      throw refuse(SERVER_UNAVAILABLE, `too many failed authentications for this ${limitedBy}; retry later`);
    }

    const emptyId = principals.hadEmptyClientId(client);
    // [MQTT-3.1.3-8] a zero-byte ClientId needs CleanSession=1
    if (emptyId && !client.clean) throw fail('empty_client_id', IDENTIFIER_REJECTED, 'empty clientId requires cleanSession', client);
    if (!username || !password || password.length === 0) {
      throw fail('missing_credentials', BAD_USERNAME_OR_PASSWORD, 'username and password are required', client);
    }

    if (username === SERVICE_USERNAME) {
      const key = await lookup(() => opsStore.findApiKeyByHash(hashSecret(password)), client);
      if (!key) {
        recordFailure(address, undefined);
        throw fail('bad_api_key', BAD_USERNAME_OR_PASSWORD, 'bad API key', client);
      }
      if (key.role !== 'service' && key.role !== 'admin') throw fail('role', NOT_AUTHORIZED, 'API key role may not use MQTT', client);
      principals.set(client, { kind: 'service', keyId: key.id, name: key.name });
      return true;
    }

    if (emptyId || client.id !== username) {
      throw fail('client_id_mismatch', IDENTIFIER_REJECTED, 'clientId must equal the device id', client);
    }
    const device = await lookup(() => opsStore.getDeviceAuth(username), client);
    if (!device || !verifySecret(password, device.secretHash)) {
      // unknown ids count too: otherwise the limit itself would tell which ids exist
      recordFailure(address, username);
      throw fail('bad_credentials', BAD_USERNAME_OR_PASSWORD, 'bad device id or secret', client);
    }
    if (device.status !== 'active') throw fail('disabled', NOT_AUTHORIZED, 'device is disabled', client);
    principals.set(client, {
      kind: 'device',
      device: { id: device.id, type: device.type, model: device.model, site: device.site },
    });
    return true;
  };
}
