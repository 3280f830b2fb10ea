import { pino, type Logger } from 'pino';

export type { Logger };

/** Structured JSON logs on stdout. API keys and payloads are never logged. */
export function createLogger(level: string, name: string): Logger {
  return pino({ name, level, redact: ['req.headers.authorization', 'apiKeys'] });
}
