import { isIPv4, isIPv6 } from 'node:net';

/**
 * Throttles secret guessing on CONNECT. Failed authentications (a wrong
 * device secret or API key) are counted per client address and per claimed
 * device id; past the limit, CONNECTs from that address or for that device
 * are refused before the secret is looked at.
 *
 * Each key is a GCRA token bucket (one number: its "theoretical arrival
 * time"): N failures a minute, a burst of N, then one more every 60/N s. So a
 * check or a failure is one Map lookup, and successful CONNECTs — a reconnect
 * storm of the whole fleet — never write anything. A success does not clear
 * a penalty: it would let a guesser interleave its tries with the real
 * device's reconnects, and one address's success says nothing about another.
 *
 * Memory is bounded: each table keeps at most `maxKeys` keys; when full it
 * drops the expired ones, then the least recently failed (Map order: a
 * failure re-inserts its key).
 */
export interface AuthLimiterOptions {
  /** Failed authentications per minute per client address; 0 = no limit. */
  perAddressPerMin: number;
  /** Failed authentications per minute per claimed device id; 0 = no limit. */
  perDevicePerMin: number;
  maxKeys: number;
  now(): number;
}

const WINDOW_MS = 60_000;

class FailureTable {
  private readonly tat = new Map<string, number>();
  private readonly interval: number;
  /** Prune passes so far: one per maxKeys/10 new keys at most once the table is full. */
  prunes = 0;

  constructor(
    private readonly perMin: number,
    private readonly maxKeys: number,
  ) {
    this.interval = perMin > 0 ? WINDOW_MS / perMin : 0;
  }

  get size(): number {
    return this.tat.size;
  }

  blocked(key: string, now: number): boolean {
    if (this.perMin <= 0) return false;
    const t = this.tat.get(key);
    if (t === undefined) return false;
    if (t <= now) {
      this.tat.delete(key);
      return false;
    }
    // conforming while the bucket holds at least one more failure
    return t - now > WINDOW_MS - this.interval;
  }

  fail(key: string, now: number): void {
    if (this.perMin <= 0) return;
    const prev = this.tat.get(key);
    const t = Math.max(prev ?? now, now) + this.interval;
    if (prev !== undefined) this.tat.delete(key);
    else if (this.tat.size >= this.maxKeys) this.prune(now);
    this.tat.set(key, t);
  }

  /**
   * Makes room for a tenth of the table at once: evicting one key per insert
   * would walk the deleted slots V8 leaves at the front of a Map each time
   * (quadratic); this way one pass pays for maxKeys/10 inserts.
   */
  private prune(now: number): void {
    this.prunes++;
    const target = Math.floor(this.maxKeys * 0.9);
    // expired keys first: they carry no penalty any more
    for (const [k, t] of this.tat) if (t <= now) this.tat.delete(k);
    for (const k of this.tat.keys()) {
      if (this.tat.size <= target) break;
      this.tat.delete(k);
    }
  }
}

export type LimitedBy = 'address' | 'device';

export interface AuthLimiter {
  /** Why a CONNECT from `address` claiming `deviceId` is refused unchecked, or undefined. */
  check(address: string | undefined, deviceId: string | undefined): LimitedBy | undefined;
  /** A secret was tried and was wrong. */
  recordFailure(address: string | undefined, deviceId: string | undefined): void;
  size(): { addresses: number; devices: number };
  /** Prune passes of each table (amortisation: a full table prunes once per maxKeys/10 new keys). */
  prunes(): { addresses: number; devices: number };
}

export function createAuthLimiter(opts: AuthLimiterOptions): AuthLimiter {
  const byAddress = new FailureTable(opts.perAddressPerMin, opts.maxKeys);
  const byDevice = new FailureTable(opts.perDevicePerMin, opts.maxKeys);
  return {
    check(address, deviceId) {
      const now = opts.now();
      const a = addressKey(address);
      if (a !== undefined && byAddress.blocked(a, now)) return 'address';
      if (deviceId !== undefined && byDevice.blocked(deviceId, now)) return 'device';
      return undefined;
    },
    recordFailure(address, deviceId) {
      const now = opts.now();
      const a = addressKey(address);
      if (a !== undefined) byAddress.fail(a, now);
      if (deviceId !== undefined) byDevice.fail(deviceId, now);
    },
    size: () => ({ addresses: byAddress.size, devices: byDevice.size }),
    prunes: () => ({ addresses: byAddress.prunes, devices: byDevice.prunes }),
  };
}

/**
 * The unit one client controls: an IPv4 address (also when IPv4-mapped), or
 * an IPv6 /64 — a single host is routinely given a whole /64, so counting
 * per IPv6 address would hand a guesser 2^64 fresh budgets.
 */
export function addressKey(address: string | undefined): string | undefined {
  if (!address) return undefined;
  const zoneless = address.split('%')[0]!;
  const lower = zoneless.toLowerCase();
  if (lower.startsWith('::ffff:') && isIPv4(lower.slice(7))) return lower.slice(7);
  if (!isIPv6(lower)) return lower;
  const [head = '', tail] = lower.split('::');
  const headGroups = head === '' ? [] : head.split(':');
  let groups = headGroups;
  if (tail !== undefined) {
    const tailGroups = tail === '' ? [] : tail.split(':');
    // an embedded dotted IPv4 tail stands for two groups
    const tailCount = tailGroups.length + (tailGroups.some((g) => g.includes('.')) ? 1 : 0);
    groups = [...headGroups, ...Array<string>(Math.max(0, 8 - headGroups.length - tailCount)).fill('0'), ...tailGroups];
  }
  return groups
    .slice(0, 4)
    .map((g) => g.replace(/^0+(?=.)/, ''))
    .join(':') + '::/64';
}
