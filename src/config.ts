import { z } from 'zod';
import { API_SCOPES, type ApiKeyEntry, type ApiScope } from './core/api-keys.ts';
import { DURATION_FORMAT, parseDuration } from './core/duration.ts';
import { DEFAULT_SCHEMA, schemaNameProblem } from './core/schema-name.ts';
import { BROKER_NAMES, inboxVariables, relayVariables } from './brokers/registry.ts';
import { integer } from './brokers/variables.ts';

const postgresUrl = z.string().refine((value) => {
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

const httpUrl = z.string().refine((value) => {
  try {
    const url = new URL(value);
    return url.protocol === 'http:' || url.protocol === 'https:';
  } catch {
    return false;
  }
}, 'must be an http:// or https:// URL');

/** `key1=value1,key2=value2` with URL-encoded values (the OTEL_EXPORTER_OTLP_HEADERS format); never echoed in errors. */
const otlpHeaders = z.string().transform((value, ctx) => {
  const headers: Record<string, string> = {};
  for (const pair of value.split(',').filter((item) => item.trim() !== '')) {
    const at = pair.indexOf('=');
    const key = pair.slice(0, at).trim();
    let decoded: string | undefined;
    try {
      decoded = at > 0 ? decodeURIComponent(pair.slice(at + 1).trim()) : undefined;
    } catch {
      decoded = undefined;
    }
    if (!/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(key) || decoded === undefined) {
      ctx.addIssue({ code: 'custom', message: 'must be key=value pairs separated by commas, values URL-encoded' });
      return z.NEVER;
    }
    headers[key] = decoded;
  }
  return headers;
});

// ---- Outbox relay (docs/outbox.md) ----
/** `from=to,from=to`: event types renamed on the wire (each side an envelope type name). */
const typeMap = z.string().transform((value, ctx) => {
  const map = new Map<string, string>();
  for (const pair of value
    .split(',')
    .map((item) => item.trim())
    .filter((item) => item !== '')) {
    const [from, to, extra] = pair.split('=').map((side) => side.trim());
    if (!from || !to || extra !== undefined || ![from, to].every((name) => /^[A-Za-z0-9._:-]{1,128}$/.test(name))) {
      ctx.addIssue({ code: 'custom', message: 'must be type=type pairs separated by commas' });
      return z.NEVER;
    }
    map.set(from, to);
  }
  return map;
});

const relaySettings = {
  /** The broker the relay publishes outbox events to; unset: no relay (`npm start` runs one when set). */
  RELAY_BROKER: z.enum(BROKER_NAMES).optional(),
  /** The broker's URL; default: its local default (the `defaultUrl` of src/brokers/<name>/index.ts: amqp://guest:guest@127.0.0.1:5672, nats://127.0.0.1:4222, redis://127.0.0.1:6379). */
  RELAY_URL: z.string().min(1).optional(),
  /** What only the chosen broker reads (RELAY_EXCHANGE, RELAY_SUBJECT_PREFIX, RELAY_STREAM, ...): src/brokers/<name>/index.ts. */
  ...relayVariables,
  /** Events one relay transaction claims at most. */
  RELAY_BATCH_SIZE: integer(1, 1000).default(100),
  /** How long an idle relay waits before looking for new events. */
  RELAY_POLL_INTERVAL_MS: integer(10, 60_000).default(200),
  /** `account.credited=ledger.record,...`: event types renamed on the wire, so another oncely's inbox takes them as its commands. */
  RELAY_TYPE_MAP: typeMap.default(new Map()),
  /** How long sent events are kept before the relay deletes them (a duration: `7d`, `12h`); at least 1m. */
  OUTBOX_RETENTION: z
    .string()
    .default('7d')
    .transform((value, ctx) => {
      const ms = parseDuration(value);
      if (ms === null || ms < 60_000) {
        ctx.addIssue({ code: 'custom', message: `must be a duration of at least 1m: ${DURATION_FORMAT}` });
        return z.NEVER;
      }
      return ms;
    }),
};

/** The relay's broker URL: RELAY_URL, else the broker's local default. */
export { relayUrl } from './brokers/registry.ts';
// ---- end of outbox relay ----

/** Client names: readable ids that cannot be mistaken for the anonymous client or an inbox's `<broker>:<queue>`. */
const CLIENT_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

/**
 * API_KEYS entries. A key that a request could never carry (`Authorization: Bearer` takes 1 to 512 visible
 * ASCII characters) is refused here, not left to fail every request; errors name the entry, never the key.
 */
const apiKeys = z
  .string()
  .optional()
  .transform((value, ctx): ApiKeyEntry[] => {
    if (value === undefined) return [];
    const entries: ApiKeyEntry[] = [];
    const problem = (index: number, message: string) => ctx.addIssue({ code: 'custom', message: `entry ${index + 1}: ${message}` });
    const items = value.split(',').map((item) => item.trim());
    if (items.every((item) => item === '')) {
      ctx.addIssue({ code: 'custom', message: 'is set but names no key (unset it to turn authentication off)' });
      return [];
    }
    const owner = new Map<string, string | undefined>();
    items.forEach((item, index) => {
      if (item === '') return problem(index, 'is empty (two commas in a row, or one at an end)');
      const parts = item.split(':');
      if (parts.length > 3) return problem(index, 'must be key, client:key or client:key:scopes');
      const [first = '', second, third] = parts;
      const client = parts.length > 1 ? first : undefined;
      const key = parts.length > 1 ? (second ?? '') : first;
      if (client !== undefined && (!CLIENT_NAME.test(client) || client === 'anonymous')) {
        return problem(index, 'the client name must be 1 to 64 characters of A-Z a-z 0-9 . _ - (and not "anonymous")');
      }
      if (key === '') return problem(index, 'the key is empty');
      if (/[^\x21-\x7e]/.test(key)) return problem(index, 'the key has a character a header cannot carry (a space, a control or a non-ASCII character)');
      if (key.length > 512) return problem(index, 'the key is longer than 512 characters, more than a request may send');
      if (key.length < 16) return problem(index, 'each key must be at least 16 characters');
      let scopes: ApiScope[] = [...API_SCOPES];
      if (third !== undefined) {
        const named = third.split('+');
        const unknown = named.filter((scope) => !(API_SCOPES as readonly string[]).includes(scope));
        if (third === '' || unknown.length > 0) return problem(index, `scopes must be ${API_SCOPES.join(', ')} joined by +`);
        scopes = API_SCOPES.filter((scope) => named.includes(scope));
      }
      if (owner.has(key)) return problem(index, 'the key is listed twice');
      owner.set(key, client);
      entries.push({ client, key, scopes });
    });
    return entries;
  });

/** The whole environment oncely reads. Nothing else touches process.env. */
export const ConfigSchema = z.object({
  DATABASE_URL: postgresUrl.optional(),
  /**
   * A connection straight to PostgreSQL for what needs a session of its own: the LISTEN that wakes
   * `Prefer: wait`, pg-boss (its LISTEN and its pool), the migrations' advisory lock. Default: DATABASE_URL.
   * Set it when DATABASE_URL points at a transaction-pooling pooler (docs/operations.md, "Behind a pooler").
   */
  DATABASE_DIRECT_URL: postgresUrl.optional(),
  /**
   * What DATABASE_URL points at: `transaction` for a transaction-pooling pooler (PgBouncer's pool_mode =
   * transaction): no named prepared statements and no startup settings on its connections. Default:
   * `transaction` when DATABASE_DIRECT_URL is set and differs from DATABASE_URL, else `none` (see poolerOf).
   */
  DATABASE_POOLER: z.enum(['none', 'transaction']).optional(),
  /** The PostgreSQL schema oncely's own tables live in (commands, the outbox, its migration journal); pg-boss keeps `pgboss`. */
  ONCELY_SCHEMA: z
    .string()
    .default(DEFAULT_SCHEMA)
    .superRefine((value, ctx) => {
      const problem = schemaNameProblem(value);
      if (problem) ctx.addIssue({ code: 'custom', message: problem });
    }),
  /** How long a starting process waits for PostgreSQL to answer (bounded backoff, one log line per attempt) before it exits 1; 0 tries once. */
  DATABASE_WAIT_SECONDS: integer(0, 3600).default(60),
  PORT: integer(0, 65535).default(3000),
  HOST: z.string().min(1).default('127.0.0.1'),
  /** A listener of its own for /metrics and /health/* (on HOST): how a worker is scraped. Unset: none (the API port serves /metrics). */
  METRICS_PORT: integer(0, 65535).optional(),
  WORKER_CONCURRENCY: integer(1, 256).default(4),
  /** Jobs a worker applies together in one transaction (one commit); each job carries up to 12 commands stored together. */
  WORKER_BATCH_SIZE: integer(1, 500).default(20),
  RETRY_LIMIT: integer(1, 100).default(5),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  /**
   * `key`, `client:key` or `client:key:submit+read`, comma-separated; unset: no authentication. Keys of one
   * client share its command ids; a bare key is a client of its own (docs/contract.md, "Authentication").
   */
  API_KEYS: apiKeys,
  /** How long a claimed job may run before another worker may take it over. */
  JOB_EXPIRE_SECONDS: integer(2, 3600).default(5),
  /** How often a worker sweeps for expired jobs (a crashed worker's commands). */
  SUPERVISE_INTERVAL_SECONDS: integer(1, 600).default(2),
  /**
   * How often a worker sweeps for queued or retrying commands whose job vanished, and queues them again
   * (one worker sweeps at a time); 0 turns the sweep off.
   */
  RECONCILE_INTERVAL_SECONDS: integer(0, 86_400).default(30),
  /** How often an idle worker looks for jobs NOTIFY did not announce (retries coming due, missed notifications). */
  POLL_INTERVAL_SECONDS: seconds(0.5, 60).default(1),
  /** The longest backoff between retries of a command whose handler fails (transient failures retry after 1 s). */
  RETRY_DELAY_MAX_SECONDS: integer(1, 3600).default(60),
  /**
   * How long ended commands (succeeded, rejected, conflict, dead) are kept before workers purge them, as a
   * duration (`30d`, `12h`), parsed to milliseconds: the dedupe window. Unset means never purged.
   */
  COMMAND_RETENTION: z
    .string()
    .optional()
    .transform((value, ctx) => {
      if (value === undefined) return undefined;
      const ms = parseDuration(value);
      if (ms === null || ms < 60_000) {
        ctx.addIssue({ code: 'custom', message: `must be a duration of at least 1m: ${DURATION_FORMAT}` });
        return z.NEVER;
      }
      return ms;
    }),
  /** How often a worker looks for ended commands older than COMMAND_RETENTION (one worker purges at a time). */
  RETENTION_INTERVAL_SECONDS: integer(1, 86_400).default(60),
  /** Where the embedded PostgreSQL keeps its data when DATABASE_URL is unset. */
  DATA_DIR: z.string().min(1).default('.data'),
  // OpenTelemetry tracing by the standard variables (docs/operations.md, "Tracing"): on when
  // OTEL_TRACES_EXPORTER names otlp or console, or an OTLP endpoint is set; otherwise off, and no SDK is loaded.
  /** Comma-separated exporters: `otlp`, `console`; `none` keeps tracing off even with an endpoint set. */
  OTEL_TRACES_EXPORTER: z
    .string()
    .transform((value) =>
      value
        .split(',')
        .map((name) => name.trim().toLowerCase())
        .filter((name) => name !== ''),
    )
    .pipe(z.array(z.enum(['otlp', 'console', 'none'])).min(1))
    .optional(),
  /** OTLP/HTTP base URL; traces go to `<endpoint>/v1/traces`. */
  OTEL_EXPORTER_OTLP_ENDPOINT: httpUrl.optional(),
  /** OTLP/HTTP traces URL, used as given (wins over OTEL_EXPORTER_OTLP_ENDPOINT). */
  OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: httpUrl.optional(),
  OTEL_EXPORTER_OTLP_HEADERS: otlpHeaders.optional(),
  /** Default: `oncely`. */
  OTEL_SERVICE_NAME: z.string().min(1).max(256).optional(),
  /** Milliseconds between span exports (default 5000). */
  OTEL_BSP_SCHEDULE_DELAY: integer(1, 600_000).optional(),
  OTEL_SDK_DISABLED: z
    .string()
    .transform((value) => value.trim().toLowerCase())
    .pipe(z.enum(['true', 'false']))
    .transform((value) => value === 'true')
    .default(false),
  ...relaySettings,
  // Broker inboxes (docs/brokers.md), each broker's INBOX_* (src/brokers/<name>/index.ts). A source runs when its
  // URL is set; its commands are stored under its own client id (default `<broker>:<queue or stream>`), so one
  // id on two sources never collides.
  ...inboxVariables,
});

export type Config = z.output<typeof ConfigSchema>;

/** The connection for what needs a session (LISTEN, pg-boss, the migration lock): DATABASE_DIRECT_URL, else the URL given. */
export function directUrlOf(config: Pick<Config, 'DATABASE_DIRECT_URL'>, url: string): string {
  return config.DATABASE_DIRECT_URL ?? url;
}

/** What DATABASE_URL points at: DATABASE_POOLER, else `transaction` exactly when a different DATABASE_DIRECT_URL is given. */
export function poolerOf(config: Pick<Config, 'DATABASE_POOLER' | 'DATABASE_DIRECT_URL'>, url: string): 'none' | 'transaction' {
  return config.DATABASE_POOLER ?? (config.DATABASE_DIRECT_URL !== undefined && config.DATABASE_DIRECT_URL !== url ? 'transaction' : 'none');
}

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
  if (parsed.success) {
    const { DATABASE_POOLER: pooler, DATABASE_URL: url, DATABASE_DIRECT_URL: direct } = parsed.data;
    // A session through a transaction pooler is not a session: LISTEN and the migration lock would silently break.
    if (pooler === 'transaction' && (direct === undefined || direct === url)) {
      throw new ConfigError(
        'invalid configuration: DATABASE_POOLER=transaction needs DATABASE_DIRECT_URL, a connection straight to PostgreSQL (LISTEN, pg-boss and the migration lock need a session)',
      );
    }
    return parsed.data;
  }
  const problems = parsed.error.issues.map((issue) => `${issue.path.join('.')} ${issue.message}`);
  throw new ConfigError(`invalid configuration: ${problems.join('; ')}`);
}
