// Upgrading in place: a database migrated and used by oncely 0.1 (every table in `public`, drizzle's journal)
// is upgraded by today's migrate without losing anything. Its old commands are still found by id and replayed
// (never applied twice), a command queued before the upgrade is applied once after it, and nothing of the
// engine is left in `public`. The 0.1 migrations are kept as they shipped (test/fixtures/legacy-0.1) and
// applied with drizzle's migrator exactly as oncely 0.1 did.
import { fileURLToPath } from 'node:url';
import { drizzle } from 'drizzle-orm/node-postgres';
import { migrate } from 'drizzle-orm/node-postgres/migrator';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CommandStatus } from '../../src/core/envelope.ts';
import { fingerprint } from '../../src/core/fingerprint.ts';
import { runMigrations } from '../../src/db/migrate.ts';
import { sqlOf, withTransaction } from '../../src/db/pool.ts';
import { referenceDomains } from '../../src/domains/index.ts';
import { startQueue } from '../../src/queue/boss.ts';
import type { System } from '../../src/system.ts';
import { useTestDatabase } from '../helpers/fixture.ts';
import { startTestSystem, testConfig, waitForTerminal } from '../helpers/system.ts';

const LEGACY = fileURLToPath(new URL('../fixtures/legacy-0.1/migrations', import.meta.url));

const db = useTestDatabase({ empty: true });
let system: System | undefined;

const request = { type: 'account.credit', entityId: 'up-acc', expectedVersion: undefined, payload: { amount: 500 } };
const queued = { type: 'account.credit', entityId: 'up-acc', expectedVersion: undefined, payload: { amount: 250 } };

/** What oncely 0.1 left behind: the schema of its five migrations, and data written the way it wrote it. */
async function legacyDatabase(url: string): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await migrate(drizzle(client), { migrationsFolder: LEGACY });
  } finally {
    await client.end();
  }
  const config = testConfig(url);
  const queue = await startQueue({
    connectionString: url,
    maxAttempts: config.RETRY_LIMIT,
    expireSeconds: config.JOB_EXPIRE_SECONDS,
    superviseIntervalSeconds: config.SUPERVISE_INTERVAL_SECONDS,
    supervise: false,
    poolSize: 2,
    applicationName: 'oncely-legacy',
    onError: () => {},
  });
  try {
    await withTransaction(db.pool, async (tx) => {
      const open = { type: 'account.open', entityId: 'up-acc', expectedVersion: undefined, payload: { currency: 'EUR' } };
      await tx.query(`INSERT INTO public.accounts (id, currency, balance, version) VALUES ('up-acc', 'EUR', 500, 2)`);
      await tx.query(
        `INSERT INTO public.ledger_entries (account_id, client_id, command_id, amount, balance_after) VALUES ('up-acc', 'anonymous', 'up-credit-1', 500, 500)`,
      );
      const insert = `INSERT INTO public.commands (client_id, id, type, entity_id, payload, fingerprint, status, attempts, result, completed_at)
        VALUES ('anonymous', $1, $2, 'up-acc', $3, $4, $5, $6, $7, CASE WHEN $5 = 'queued' THEN NULL ELSE now() END)`;
      await tx.query(insert, ['up-open', open.type, open.payload, fingerprint(open), 'succeeded', 1, { id: 'up-acc', currency: 'EUR', balance: 0, version: 1 }]);
      await tx.query(insert, ['up-credit-1', request.type, request.payload, fingerprint(request), 'succeeded', 1, { id: 'up-acc', balance: 500, version: 2 }]);
      await tx.query(insert, ['up-credit-2', queued.type, queued.payload, fingerprint(queued), 'queued', 0, null]);
      await queue.enqueue(sqlOf(tx), [{ clientId: 'anonymous', id: 'up-credit-2', entityId: 'up-acc' }]);
      await tx.query(
        `INSERT INTO public.outbox_events (id, client_id, command_id, position, type, entity_id, payload)
         VALUES ('evt_up_1', 'anonymous', 'up-credit-1', 0, 'account.credited', 'up-acc', '{"amount":500}')`,
      );
    });
  } finally {
    await queue.stop();
  }
}

const count = async (sql: string) => (await db.pool.query<{ n: number }>(sql)).rows[0]!.n;

beforeAll(async () => {
  await legacyDatabase(db.url);
});

afterAll(async () => {
  await system?.stop();
});

describe('upgrading a database made by oncely 0.1', () => {
  it('moves the engine tables into the oncely schema, keeping every row, and records the migrations as applied', async () => {
    // Concurrent migrations: every process of a deployment may start at once.
    await Promise.all([1, 2, 3].map(() => runMigrations(db.url, { domains: referenceDomains })));
    const where = async (table: string) =>
      (await db.pool.query<{ schema: string }>(`SELECT table_schema AS schema FROM information_schema.tables WHERE table_name = $1 ORDER BY 1`, [table])).rows.map(
        (row) => row.schema,
      );
    expect(await where('commands')).toEqual(['oncely']);
    expect(await where('outbox_events')).toEqual(['oncely']);
    expect(await count(`SELECT count(*)::int AS n FROM oncely.commands`)).toBe(3);
    expect(await count(`SELECT count(*)::int AS n FROM oncely.outbox_events`)).toBe(1);
    // The outbox's sequence moved with its table and goes on from where it was.
    const { rows: seq } = await db.pool.query<{ schema: string }>(
      `SELECT n.nspname AS schema FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relname = 'outbox_events_sequence_seq'`,
    );
    expect(seq).toEqual([{ schema: 'oncely' }]);
    // Nothing of the engine remains in public; the reference domains' tables stay there with their rows.
    expect(
      await count(
        `SELECT count(*)::int AS n FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public' AND (c.relname LIKE 'commands%' OR c.relname LIKE 'outbox_events%')`,
      ),
    ).toBe(0);
    expect(await count(`SELECT count(*)::int AS n FROM public.ledger_entries`)).toBe(1);
    // Indexes and constraints moved too.
    const { rows: indexes } = await db.pool.query<{ name: string }>(`SELECT indexname AS name FROM pg_indexes WHERE schemaname = 'oncely' ORDER BY 1`);
    expect(indexes.map((row) => row.name)).toEqual(
      expect.arrayContaining(['commands_client_id_id_pk', 'commands_dead_letters_idx', 'commands_in_flight_idx', 'outbox_events_id_key', 'outbox_events_unsent_idx']),
    );
    const { rows: journal } = await db.pool.query(`SELECT domain, name FROM oncely.migrations ORDER BY domain, name`);
    expect(journal).toEqual([
      { domain: 'accounts', name: '0000_accounts' },
      { domain: 'oncely', name: '0000_baseline' },
      { domain: 'orders', name: '0000_orders' },
      { domain: 'red-packets', name: '0000_red_packets' },
    ]);
    // drizzle's journal is left as it was: nothing is ever dropped.
    expect(await count(`SELECT count(*)::int AS n FROM drizzle.__drizzle_migrations`)).toBe(5);
  });

  it('finds an old command by id, replays it on resubmission without a second effect, and applies the queued one once', async () => {
    system = await startTestSystem(db.url);
    expect(await system.ready()).toBe(true);
    const res = await system.app!.request('/v1/commands/up-credit-1');
    expect(res.status).toBe(200);
    const old = (await res.json()) as CommandStatus;
    expect(old).toMatchObject({ id: 'up-credit-1', status: 'succeeded', result: { id: 'up-acc', balance: 500, version: 2 } });

    const again = await system.app!.request('/v1/commands', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ id: 'up-credit-1', type: request.type, entityId: request.entityId, payload: request.payload }),
    });
    expect(again.status).toBe(200);
    expect(await again.json()).toMatchObject({ id: 'up-credit-1', status: 'succeeded' });

    // The command queued before the upgrade is applied by its old job, once.
    expect(await waitForTerminal(db.pool, 'up-credit-2')).toMatchObject({ status: 'succeeded' });
    expect(await count(`SELECT count(*)::int AS n FROM public.ledger_entries WHERE command_id = 'up-credit-1'`)).toBe(1);
    expect(await count(`SELECT count(*)::int AS n FROM public.ledger_entries WHERE command_id = 'up-credit-2'`)).toBe(1);
    expect(await count(`SELECT balance::int AS n FROM public.accounts WHERE id = 'up-acc'`)).toBe(750);
    // Its event joins the old one in the outbox that moved, in sequence after it.
    const { rows: events } = await db.pool.query<{ command_id: string }>(`SELECT command_id FROM oncely.outbox_events ORDER BY sequence`);
    expect(events.map((e) => e.command_id)).toEqual(['up-credit-1', 'up-credit-2']);
  });

  it('does nothing more when migrated again', async () => {
    await runMigrations(db.url, { domains: referenceDomains });
    expect(await count(`SELECT count(*)::int AS n FROM oncely.migrations`)).toBe(4);
    expect(await count(`SELECT count(*)::int AS n FROM oncely.commands`)).toBe(3);
  });
});
