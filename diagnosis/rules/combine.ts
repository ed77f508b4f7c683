/**
 * AND / OR. Every child is evaluated (no short-circuit) so stateful children —
 * durations, hysteresis latches — see every sample.
 */
export function combineAll(results: readonly boolean[]): boolean {
  return results.every(Boolean);
}

export function combineAny(results: readonly boolean[]): boolean {
  return results.some(Boolean);
}
