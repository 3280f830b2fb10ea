// oncely as a library, in the two shapes a web application's processes take: a worker-only process that
// answers its orchestrator's health probes through `oncely.health` (no api role, no oncely listener), and an
// HTTP handler that submits envelopes parsed from a request body with `oncely.submit(tx, body, { untyped:
// true })`, checked at run time by the same intake as POST /v1/commands (a bad one: nothing written).
import { serve, type ServerType } from '@hono/node-server';
import type { AddressInfo } from 'node:net';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { CommandRefusedError, createOncely, defineCommand, defineDomain, OncelyUsageError, succeeded, type Oncely } from '../../src/index.ts';
import { createLogger } from '../../src/log.ts';
import { useTestDatabase } from '../helpers/fixture.ts';
import { FAST_ENV, waitForTerminal } from '../helpers/system.ts';

// A handler command that writes one row of the application's own table.
const record = defineCommand({
  type: 'visit.record',
  summary: 'Records a visit.',
  payload: z.strictObject({ page: z.string().min(1) }),
  async handle(ctx) {
    await ctx.sql.query('INSERT INTO health_visits (id, page) VALUES ($1, $2)', [ctx.command.entityId, ctx.command.payload.page]);
    return succeeded({ page: ctx.command.payload.page });
  },
});
const visitsDomain = defineDomain({ name: 'visits', commands: [record], tables: {}, rows: [], reads: [] });

const db = useTestDatabase();
let worker: Oncely<readonly [typeof visitsDomain]>;
let server: ServerType | undefined;
const quiet = createLogger('silent', 'library-health-test');

beforeAll(async () => {
  await db.pool.query('CREATE TABLE health_visits (id text PRIMARY KEY, page text NOT NULL)');
  worker = createOncely({ databaseUrl: db.url, domains: [visitsDomain], config: FAST_ENV, logger: quiet });
});
afterAll(async () => {
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  await worker?.stop();
});

const get = (path: string, init?: RequestInit) => worker.health(new Request(`http://worker.local${path}`, init));

async function inTransaction<T>(fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  const client = await db.pool.connect();
  try {
    await client.query('BEGIN');
    const result = await fn(client);
    await client.query('COMMIT');
    return result;
  } catch (err) {
    await client.query('ROLLBACK');
    throw err;
  } finally {
    client.release();
  }
}

describe('a worker-only process through the library', () => {
  it('is live but not ready before start; ready, with metrics, once its worker runs; not ready after stop', async () => {
    expect((await get('/health/live')).status).toBe(200);
    const early = await get('/health/ready');
    expect(early.status).toBe(503);
    expect(await early.json()).toMatchObject({ code: 'service_unavailable', detail: 'oncely is not started' });

    await worker.start({ worker: true });
    // No api role: no HTTP app, yet the probes answer.
    expect(() => worker.app).toThrow(OncelyUsageError);
    const ready = await get('/health/ready');
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({ status: 'ok' });
    const metrics = await get('/metrics');
    expect(metrics.status).toBe(200);
    expect(await metrics.text()).toContain('oncely_queue_depth');
    expect((await get('/health/nothing')).status).toBe(404);
    expect((await get('/health/ready', { method: 'POST' })).status).toBe(405);

    // Served on a port of the process's own, as an orchestrator probes it.
    server = serve({ fetch: worker.health, port: 0, hostname: '127.0.0.1' });
    await new Promise<void>((resolve) => server!.once('listening', () => resolve()));
    const { port } = server.address() as AddressInfo;
    const probe = await fetch(`http://127.0.0.1:${port}/health/ready`);
    expect(probe.status).toBe(200);
  });

  it('submits envelopes parsed from JSON with { untyped: true }, and the worker applies them', async () => {
    const body: unknown = JSON.parse('[{"id":"v-1","type":"visit.record","entityId":"v-1","payload":{"page":"/home"}}]');
    const [submission] = await inTransaction((client) => worker.submit(client, body as unknown[], { untyped: true }));
    expect(submission).toMatchObject({ outcome: 'accepted', status: { status: 'queued' } });
    expect(await waitForTerminal(db.pool, 'v-1')).toMatchObject({ status: 'succeeded', result: { page: '/home' } });
    expect((await db.pool.query('SELECT page FROM health_visits')).rows).toEqual([{ page: '/home' }]);
  });

  it('refuses a bad untyped envelope before writing anything, the good ones before it included', async () => {
    const body: unknown = JSON.parse(
      '[{"id":"v-2","type":"visit.record","entityId":"v-2","payload":{"page":"/a"}},{"id":"v-3","type":"visit.record","entityId":"v-3","payload":{"page":""}}]',
    );
    const failure = inTransaction((client) => worker.submit(client, body as unknown[], { untyped: true }));
    await expect(failure).rejects.toBeInstanceOf(CommandRefusedError);
    await expect(failure).rejects.toMatchObject({ reason: 'invalid_payload', index: 1, id: 'v-3' });
    const stored = await db.pool.query(`SELECT id FROM oncely.commands WHERE id IN ('v-2', 'v-3')`);
    expect(stored.rows).toEqual([]);
  });

  it('keeps the typed overload strict: a wrong type without { untyped: true } does not compile (and is refused at run time)', async () => {
    const failure = inTransaction((client) =>
      // @ts-expect-error 'visit.recorded' is not a command type of the domains
      worker.submit(client, [{ id: 'v-4', type: 'visit.recorded', entityId: 'v-4', payload: { page: '/x' } }]),
    );
    await expect(failure).rejects.toMatchObject({ reason: 'unknown_command_type' });
    expect((await db.pool.query(`SELECT id FROM oncely.commands WHERE id = 'v-4'`)).rows).toEqual([]);
  });
});
