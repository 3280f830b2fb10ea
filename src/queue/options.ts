// The one mapping from oncely's configuration to the queue's settings: the api, a worker, createOncely's
// migrate and the CLI start pg-boss with the same policy (attempts, expiry, supervision, queue names).
import type { QueueSettings } from './boss.ts';

/** The settings the queue's policy comes from (docs/configuration.md); the parsed Config has them all. */
export interface QueueConfig {
  RETRY_LIMIT: number;
  JOB_EXPIRE_SECONDS: number;
  SUPERVISE_INTERVAL_SECONDS: number;
  ONCELY_SCHEMA: string;
}

/** How this process uses the queue. */
export interface QueueUse {
  /** Straight to PostgreSQL (DATABASE_DIRECT_URL, else DATABASE_URL): pg-boss holds a LISTEN and sets session bounds. */
  connectionString: string;
  applicationName: string;
  onError: (err: Error) => void;
  /** Whether this process sweeps expired jobs (a worker's); default false. */
  supervise?: boolean;
  /** Connections of pg-boss's pool; default 2 (enough to enqueue). */
  poolSize?: number;
}

/**
 * The queue's settings for one process, from the configuration.
 *
 * @example
 * const queue = await startQueue(queueSettings(config, { connectionString: directUrlOf(config, url), applicationName: 'oncely-cli', onError }));
 */
export function queueSettings(config: QueueConfig, use: QueueUse): QueueSettings {
  return {
    connectionString: use.connectionString,
    maxAttempts: config.RETRY_LIMIT,
    expireSeconds: config.JOB_EXPIRE_SECONDS,
    superviseIntervalSeconds: config.SUPERVISE_INTERVAL_SECONDS,
    supervise: use.supervise ?? false,
    poolSize: use.poolSize ?? 2,
    applicationName: use.applicationName,
    onError: use.onError,
    schema: config.ONCELY_SCHEMA,
  };
}
