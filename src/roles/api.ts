// The api role: the HTTP app over the command service, with the one LISTEN connection its `Prefer: wait`
// requests are woken by.
import type { Hono } from 'hono';
import { drizzle } from 'drizzle-orm/node-postgres';
import { sqlOf } from '../db/pool.ts';
import { createSettledListener } from '../db/settled-listener.ts';
import { createApp } from '../http/app.ts';
import type { CommandService } from '../processor/commands.ts';
import { isRetryable } from '../processor/errors.ts';
import { createStatsReader, readDuplicateCounts } from '../processor/stats.ts';
import type { Base, Stoppable } from './base.ts';

export interface Api extends Stoppable {
  app: Hono<{ Variables: { clientId: string } }>;
  commands: CommandService;
  /** Answers every open `Prefer: wait` at once with its command's current status. */
  endWaits(): void;
}

/**
 * Starts the api role on the base: its listener, its command service (pipelined submissions) and its app.
 *
 * @example
 * const api = startApiRole(base);
 * serve({ fetch: api.app.fetch });
 */
export function startApiRole(base: Base): Api {
  const { config, log, pool, metrics, schema, tracing } = base;
  // LISTEN needs a session: the direct connection.
  const listener = createSettledListener({ connectionString: base.direct, onError: base.onError('listener') });
  const commands = base.commandService({ pipelined: true, listener, onSubmitted: (sent, answers) => metrics.submissions(sent, answers) });
  const waitsEnd = new AbortController();
  const stats = createStatsReader(pool, { schema });
  const app = createApp({
    registry: base.registry,
    commands,
    metrics,
    ...(tracing ? { traceRequests: tracing.requests } : {}),
    apiKeys: config.API_KEYS,
    stopping: waitsEnd.signal,
    domains: base.domains,
    // Reads use the query builder only, so the drizzle database needs no schema: any domain's table works.
    readContext: { db: drizzle(pool), sql: sqlOf(pool) },
    ready: () => base.ready(),
    stats: async (clientId) => ({ ...(await stats.read(clientId)), duplicates: { scope: 'process', ...(await readDuplicateCounts(metrics.registry)) } }),
    // A database outage is expected operations (answered 503), not a bug: warn without the stack.
    onError: (err) =>
      isRetryable(err)
        ? log.warn({ err: { message: (err as Error).message, code: (err as { code?: string }).code } }, 'request failed: database unavailable')
        : log.error({ err }, 'request failed'),
  });
  return {
    app,
    commands,
    endWaits: () => waitsEnd.abort(),
    stop() {
      waitsEnd.abort();
      return listener.stop();
    },
  };
}
