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
  onViolation(reason: 'packet_too_large' | 'flood' | 'malformed_length' | 'malformed_packet'): void;
}

export interface GuardedStream extends Duplex {
  remoteAddress: string | undefined;
  /** Lifts the publish rate limit (trusted service clients). */
  exemptFromRateLimit: boolean;
  /** Bytes written towards the client and not yet handed to the kernel. */
  readonly outboundBytes: number;
}

const PUBLISH = 3;
const SUBSCRIBE = 8;
const UNSUBSCRIBE = 10;

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
  let type = 0;
  let tokens = opts.burst;
  let lastRefill = Date.now();
  let violated = false;

  let corked = false;
  const uncork = () => {
    corked = false;
    inner.uncork();
  };

  const guard = new Duplex({
    allowHalfOpen: false,
    read() {
      inner.resume();
    },
    write(chunk: Buffer, _enc, cb) {
      // Coalesce what Aedes writes in one turn (e.g. the PUBACKs of a whole
      // group commit) into one syscall instead of one write per packet.
      if (!corked) {
        corked = true;
        inner.cork();
        process.nextTick(uncork);
      }
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
  Object.defineProperty(guard, 'outboundBytes', { get: () => guard.writableLength + inner.writableLength });

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
          type = buf[i]! >> 4;
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
          if (type === PUBLISH && !takeToken()) return violate('flood'), false;
          // a (UN)SUBSCRIBE with a packet id and no topic filter [MQTT-3.8.3-3] [MQTT-3.10.3-2];
          // mqtt-packet refuses the empty SUBSCRIBE but answers the empty UNSUBSCRIBE
          if ((type === SUBSCRIBE || type === UNSUBSCRIBE) && remaining <= 2) return violate('malformed_packet'), false;
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
