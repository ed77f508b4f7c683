import { Duplex } from 'node:stream';

/**
 * Sits between a socket and Aedes and reads only MQTT fixed headers
 * ([MQTT-2.2]: type nibble + variable-length "remaining length"), so that
 *  - a packet larger than the hard limit is refused before any of it is
 *    buffered (mqtt-packet would otherwise wait for the whole frame), and
 *  - a client publishing faster than its token bucket allows is cut off.
 * Everything else passes through untouched.
 */
export interface FrameGuardOptions {
  maxPacketBytes: number;
  /** PUBLISH packets per second, sustained; 0 disables rate limiting. */
  ratePerSecond: number;
  burst: number;
  onViolation(reason: 'packet_too_large' | 'flood' | 'malformed_length'): void;
}

export interface GuardedStream extends Duplex {
  remoteAddress: string | undefined;
  /** Lifts the publish rate limit (trusted service clients). */
  exemptFromRateLimit: boolean;
}

const enum State {
  Header,
  Length,
  Body,
}

export function guardStream(inner: Duplex, remoteAddress: string | undefined, opts: FrameGuardOptions): GuardedStream {
  let state = State.Header;
  let remaining = 0;
  let multiplier = 1;
  let lengthBytes = 0;
  let isPublish = false;
  let tokens = opts.burst;
  let lastRefill = Date.now();
  let violated = false;

  const guard = new Duplex({
    allowHalfOpen: false,
    read() {
      inner.resume();
    },
    write(chunk: Buffer, _enc, cb) {
      inner.write(chunk, cb);
    },
    final(cb) {
      inner.end();
      cb();
    },
    destroy(err, cb) {
      inner.destroy();
      cb(err);
    },
  }) as GuardedStream;
  guard.remoteAddress = remoteAddress;
  guard.exemptFromRateLimit = false;

  const violate = (reason: Parameters<FrameGuardOptions['onViolation']>[0]) => {
    if (violated) return;
    violated = true;
    opts.onViolation(reason);
    inner.destroy();
    guard.destroy();
  };

  const takeToken = (): boolean => {
    if (guard.exemptFromRateLimit || opts.ratePerSecond <= 0) return true;
    const now = Date.now();
    tokens = Math.min(opts.burst, tokens + ((now - lastRefill) * opts.ratePerSecond) / 1000);
    lastRefill = now;
    if (tokens < 1) return false;
    tokens -= 1;
    return true;
  };

  const inspect = (buf: Buffer): boolean => {
    let i = 0;
    while (i < buf.length) {
      switch (state) {
        case State.Header: {
          isPublish = (buf[i]! >> 4) === 3;
          state = State.Length;
          remaining = 0;
          multiplier = 1;
          lengthBytes = 0;
          i++;
          break;
        }
        case State.Length: {
          const b = buf[i++]!;
          remaining += (b & 0x7f) * multiplier;
          multiplier *= 128;
          lengthBytes++;
          if (b & 0x80) {
            if (lengthBytes >= 4) return violate('malformed_length'), false;
            break;
          }
          if (remaining > opts.maxPacketBytes) return violate('packet_too_large'), false;
          if (isPublish && !takeToken()) return violate('flood'), false;
          state = remaining === 0 ? State.Header : State.Body;
          break;
        }
        case State.Body: {
          const take = Math.min(remaining, buf.length - i);
          remaining -= take;
          i += take;
          if (remaining === 0) state = State.Header;
          break;
        }
      }
    }
    return true;
  };

  inner.on('data', (chunk: Buffer) => {
    if (violated || !inspect(chunk)) return;
    if (!guard.push(chunk)) inner.pause();
  });
  inner.on('end', () => guard.push(null));
  inner.on('error', (err) => guard.destroy(err));
  inner.on('close', () => {
    if (!guard.destroyed) guard.destroy();
  });
  return guard;
}
