import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { bootstrapAdminKey } from '../../api/bootstrap.ts';
import { nullLogger } from '../../core/logger.ts';
import type { OpsStore } from '../../core/ports.ts';
import { hashSecret } from '../../core/secrets.ts';
import { memoryOpsStore } from './helpers.ts';

const logger = nullLogger();
let opsStore: OpsStore;

beforeAll(async () => {
  opsStore = await memoryOpsStore({ logger });
});
afterAll(() => opsStore?.close());

async function revokeAll(): Promise<void> {
  for (const k of await opsStore.listApiKeys()) if (k.revokedAt === null) await opsStore.revokeApiKey(k.id);
}

describe('bootstrapAdminKey', () => {
  beforeEach(revokeAll);

  it('generates an admin key when none exists and returns it, once', async () => {
    await opsStore.createApiKey('a viewer does not count', 'viewer');
    const { generatedAdminKey } = await bootstrapAdminKey({ opsStore, adminKey: undefined, logger });
    expect(generatedAdminKey).toMatch(/^fd_.{40,}/);
    expect(await opsStore.findApiKeyByHash(hashSecret(generatedAdminKey!))).toMatchObject({ role: 'admin', revokedAt: null });

    expect(await bootstrapAdminKey({ opsStore, adminKey: undefined, logger })).toEqual({});
    expect(await opsStore.countActiveApiKeys('admin')).toBe(1);
  });

  it('stores the configured key as the first admin key and generates nothing', async () => {
    const adminKey = 'configured-admin-key-0123456789';
    expect(await bootstrapAdminKey({ opsStore, adminKey, logger })).toEqual({});
    expect(await opsStore.findApiKeyByHash(hashSecret(adminKey))).toMatchObject({ role: 'admin' });
    // Restarting with the same setting changes nothing.
    expect(await bootstrapAdminKey({ opsStore, adminKey, logger })).toEqual({});
    expect(await opsStore.countActiveApiKeys('admin')).toBe(1);
  });

  it('leaves things alone when an admin key exists, even if another key is configured', async () => {
    await opsStore.createApiKey('existing admin', 'admin');
    expect(await bootstrapAdminKey({ opsStore, adminKey: 'another-configured-key-0123456789', logger })).toEqual({});
    expect(await opsStore.findApiKeyByHash(hashSecret('another-configured-key-0123456789'))).toBeNull();
  });

  it('does not revive a configured key that was revoked; it generates a new one', async () => {
    const adminKey = 'revoked-admin-key-0123456789';
    await bootstrapAdminKey({ opsStore, adminKey, logger });
    await revokeAll();
    const { generatedAdminKey } = await bootstrapAdminKey({ opsStore, adminKey, logger });
    expect(generatedAdminKey).toMatch(/^fd_/);
    expect(await opsStore.findApiKeyByHash(hashSecret(adminKey))).toBeNull();
  });
});
