/** Injected time, so windows, SLAs and expiries are testable with fake time. */
export interface Clock {
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };
