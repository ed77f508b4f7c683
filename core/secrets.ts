import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * Secrets (device passwords, API keys) carry 256 random bits, so a fast hash
 * is safe against guessing, and a reconnect storm of 10,000 devices costs
 * milliseconds instead of the minutes a slow KDF would.
 */
export function generateSecret(prefix = ''): string {
  return prefix + randomBytes(32).toString('base64url');
}

export function hashSecret(secret: string | Buffer): string {
  return createHash('sha256').update(secret).digest('hex');
}

export function verifySecret(secret: string | Buffer, expectedHash: string): boolean {
  const actual = Buffer.from(hashSecret(secret), 'hex');
  const expected = Buffer.from(expectedHash, 'hex');
  return actual.length === expected.length && timingSafeEqual(actual, expected);
}
