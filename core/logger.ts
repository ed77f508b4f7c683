import { pino, type Logger, type LoggerOptions } from 'pino';

export type { Logger };

/** The one root logger. Pretty output only when stdout is a terminal. */
export function createLogger(opts: { level: string; pretty?: boolean }): Logger {
  const options: LoggerOptions = { level: opts.level, base: { pid: process.pid } };
  const pretty = opts.pretty ?? process.stdout.isTTY === true;
  if (pretty) {
    return pino({ ...options, transport: { target: 'pino-pretty', options: { colorize: true } } });
  }
  return pino(options);
}

/** A silent logger for tests and tools. */
export function nullLogger(): Logger {
  return pino({ level: 'silent' });
}
