/**
 * Structured logs (pino): JSON in production, readable in a terminal
 * otherwise. One child logger per component (`logger.child({ component })`).
 * Never log a token, a secret or message text: ids and lengths only. The
 * redact paths below are a second line of defence, not the first.
 */
import pino, { type Logger } from 'pino';

export type { Logger };

export function createLogger(options: { level: string; pretty: boolean }): Logger {
  return pino({
    level: options.level,
    base: { service: 'pivot-gateway' },
    redact: {
      paths: ['token', 'pivotToken', 'sessionToken', 'text', 'body', 'authorization', '*.token', '*.pivotToken', '*.sessionToken', '*.text', 'req.headers.authorization', 'req.headers.cookie'],
      censor: '[redacted]',
    },
    ...(options.pretty ? { transport: { target: 'pino-pretty', options: { colorize: true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname,service' } } } : {}),
  });
}

/** A logger that drops everything: for tests and library use. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
