import { z } from 'zod';

const integer = (min: number, max: number) =>
  z
    .string()
    .regex(/^\d+$/, 'must be a whole number')
    .transform(Number)
    .pipe(z.number().int().min(min).max(max));

const postgresUrl = z
  .string()
  .refine((value) => {
    try {
      const url = new URL(value);
      return (url.protocol === 'postgres:' || url.protocol === 'postgresql:') && url.pathname.length > 1;
    } catch {
      return false;
    }
  }, 'must be a postgres://user@host:port/database URL');

const seconds = (min: number, max: number) =>
  z
    .string()
    .regex(/^\d+(\.\d+)?$/, 'must be a number of seconds')
    .transform(Number)
    .pipe(z.number().min(min).max(max));

/** The whole environment oncely reads. Nothing else touches process.env. */
export const ConfigSchema = z.object({
  DATABASE_URL: postgresUrl.optional(),
  PORT: integer(0, 65535).default(3000),
  HOST: z.string().min(1).default('127.0.0.1'),
  WORKER_CONCURRENCY: integer(1, 256).default(4),
  /** Commands a worker applies together in one transaction (one commit). */
  WORKER_BATCH_SIZE: integer(1, 500).default(20),
  RETRY_LIMIT: integer(1, 100).default(5),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  API_KEYS: z
    .string()
    .optional()
    .transform((value) => (value ?? '').split(',').map((key) => key.trim()).filter((key) => key.length > 0))
    .pipe(z.array(z.string().min(16, 'each key must be at least 16 characters'))),
  /** How long a claimed job may run before another worker may take it over. */
  JOB_EXPIRE_SECONDS: integer(2, 3600).default(5),
  /** How often a worker sweeps for expired jobs (a crashed worker's commands). */
  SUPERVISE_INTERVAL_SECONDS: integer(1, 600).default(2),
  /** How often an idle worker looks for jobs NOTIFY did not announce (retries coming due, missed notifications). */
  POLL_INTERVAL_SECONDS: seconds(0.5, 60).default(1),
  /** The longest backoff between retries of a command whose handler fails (transient failures retry after 1 s). */
  RETRY_DELAY_MAX_SECONDS: integer(1, 3600).default(60),
  /** Where the embedded PostgreSQL keeps its data when DATABASE_URL is unset. */
  DATA_DIR: z.string().min(1).default('.data'),
  /** Test-only fault injection: crash the worker at a named point. */
  ONCELY_FAULT: z.enum(['kill-in-transaction', 'kill-after-commit']).optional(),
  /** Chaos-run only: registers the always-failing `chaos.poison` command type (src/chaos/poison.ts). */
  ONCELY_CHAOS_POISON: z.enum(['0', '1']).default('0').transform((value) => value === '1'),
});

export type Config = z.output<typeof ConfigSchema>;

export class ConfigError extends Error {
  override name = 'ConfigError';
}

/**
 * Parses the environment once, listing every bad variable in one line.
 *
 * @example
 * const config = parseConfig(process.env);
 */
export function parseConfig(env: Record<string, string | undefined>): Config {
  const present = Object.fromEntries(Object.entries(env).filter(([, value]) => value !== undefined && value !== ''));
  const parsed = ConfigSchema.safeParse(present);
  if (parsed.success) return parsed.data;
  const problems = parsed.error.issues.map((issue) => `${issue.path.join('.')} ${issue.message}`);
  throw new ConfigError(`invalid configuration: ${problems.join('; ')}`);
}
