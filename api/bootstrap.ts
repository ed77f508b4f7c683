import { isFleetdocError } from '../core/errors.ts';
import type { Logger } from '../core/logger.ts';
import type { OpsStore } from '../core/ports.ts';
import { generateSecret } from '../core/secrets.ts';

/**
 * Makes sure an admin can reach the api. With FLEETDOC_ADMIN_KEY
 * (config.api.adminKey) set and no active admin key, that key becomes the
 * first one. Otherwise, with no active admin key, one is generated and
 * returned so main prints it once; it is never logged here.
 */
export async function bootstrapAdminKey(deps: { opsStore: OpsStore; adminKey: string | undefined; logger: Logger }): Promise<{ generatedAdminKey?: string }> {
  const log = deps.logger.child({ service: 'api' });
  if ((await deps.opsStore.countActiveApiKeys('admin')) > 0) return {};

  if (deps.adminKey !== undefined) {
    try {
      await deps.opsStore.createApiKey('bootstrap admin (FLEETDOC_ADMIN_KEY)', 'admin', deps.adminKey);
      log.info('stored FLEETDOC_ADMIN_KEY as the first admin api key');
      return {};
    } catch (err) {
      // Stored already (revoked, or another role): a revoked key is not brought back to life.
      if (!isFleetdocError(err) || err.statusCode >= 500) throw err;
      log.warn({ code: err.code }, 'FLEETDOC_ADMIN_KEY is already stored but is not an active admin key; generating a new admin key');
    }
  }

  const key = generateSecret('fd_');
  await deps.opsStore.createApiKey('bootstrap admin (generated)', 'admin', key);
  log.warn('no active admin api key existed; generated one');
  return { generatedAdminKey: key };
}
