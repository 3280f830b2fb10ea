// oncely as a guest in an application's database: migrate() with only the application's own domain creates
// oncely's tables in a schema of its own (here a schema named by the application), the domain's tables from
// the domain's own migrations (a folder of SQL files, or drizzle-kit's output), journaled per domain, and
// nothing else: the application's own `accounts` and `orders` are left exactly as they were, and no table of
// oncely's appears in `public`. Migrating is idempotent and safe from several processes at once; an applied
// migration whose file changed is refused by name. The engine then runs entirely in that schema.
import { cp, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { ConfigError } from '../../src/config.ts';
import { defineCommand } from '../../src/core/command.ts';
import { defineDomain } from '../../src/core/domain.ts';
import { Amount } from '../../src/core/envelope.ts';
import { succeeded } from '../../src/core/outcome.ts';
import { runMigrations } from '../../src/db/migrate.ts';
import { withTransaction } from '../../src/db/pool.ts';
import { createOncely, type Oncely } from '../../src/library/oncely.ts';
import { createLogger } from '../../src/log.ts';
import { useTestDatabase } from '../helpers/fixture.ts';
import { FAST_ENV, waitUntil } from '../helpers/system.ts';

const FIXTURES = fileURLToPath(new URL('../fixtures/gift-cards', import.meta.url));
const SCHEMA = 'shop_engine';

const issue = defineCommand({
  type: 'gift.issue',
  summary: 'Issue a gift card',
  payload: z.strictObject({ amount: Amount }),
  async handle({ sql, command }) {
    await sql.query(`INSERT INTO gift_cards (id, amount) VALUES ($1, $2)`, [command.entityId, command.payload.amount]);
    return succeeded({ id: command.entityId, amount: command.payload.amount });
  },
});

const giftCards = defineDomain({ name: 'gift-cards', commands: [issue], tables: {}, reads: [], migrations: path.join(FIXTURES, 'migrations') });
// drizzle-kit's output: applied in its journal's order.
const vouchers = defineDomain({ name: 'vouchers', commands: [], tables: {}, reads: [], migrations: new URL('../fixtures/gift-cards/drizzle', import.meta.url) });

// The application's own tables, with names oncely's demo also uses.
const APPLICATION_DDL = [
  `CREATE TABLE accounts (id serial PRIMARY KEY, email text NOT NULL UNIQUE)`,
  `CREATE TABLE orders (id bigserial PRIMARY KEY, account_id integer NOT NULL REFERENCES accounts (id), total numeric(10, 2) NOT NULL)`,
  `INSERT INTO accounts (email) VALUES ('ada@example.com'), ('grace@example.com')`,
  `INSERT INTO orders (account_id, total) VALUES (1, 12.50), (2, 7.25)`,
];

const db = useTestDatabase({ empty: true });
let oncely: Oncely | undefined;

/** The application's tables as the catalog describes them, with their rows. */
async function applicationSnapshot() {
  const { rows: columns } = await db.pool.query(
    `SELECT table_name, column_name, data_type, is_nullable, column_default FROM information_schema.columns
     WHERE table_schema = 'public' AND table_name IN ('accounts', 'orders') ORDER BY table_name, ordinal_position`,
  );
  const { rows: constraints } = await db.pool.query(
    `SELECT conrelid::regclass::text AS table_name, conname, pg_get_constraintdef(oid) AS def FROM pg_constraint
     WHERE conrelid IN ('public.accounts'::regclass, 'public.orders'::regclass) ORDER BY 1, 2`,
  );
  const accounts = (await db.pool.query(`SELECT * FROM public.accounts ORDER BY id`)).rows;
  const orders = (await db.pool.query(`SELECT * FROM public.orders ORDER BY id`)).rows;
  return { columns, constraints, accounts, orders };
}

const publicTables = async () =>
  (await db.pool.query<{ name: string }>(`SELECT table_name AS name FROM information_schema.tables WHERE table_schema = 'public' ORDER BY 1`)).rows.map((r) => r.name);

beforeAll(async () => {
  for (const statement of APPLICATION_DDL) await db.pool.query(statement);
});

afterAll(async () => {
  await oncely?.stop();
});

describe("oncely in an application's database", () => {
  it('migrates only the engine, into its own schema, and the domains’ own tables, however many processes migrate at once', async () => {
    const before = await applicationSnapshot();
    const quiet = createLogger('silent', 'test');
    const instances = [1, 2, 3].map(() => createOncely({ databaseUrl: db.url, domains: [giftCards, vouchers], schema: SCHEMA, config: FAST_ENV, logger: quiet }));
    await Promise.all(instances.map((instance) => instance.migrate()));
    await instances[0]!.migrate(); // and again: nothing to do

    expect(await publicTables()).toEqual(['accounts', 'gift_cards', 'orders', 'vouchers']);
    expect(await applicationSnapshot()).toEqual(before);
    const { rows: engine } = await db.pool.query<{ name: string }>(`SELECT table_name AS name FROM information_schema.tables WHERE table_schema = $1 ORDER BY 1`, [
      SCHEMA,
    ]);
    expect(engine.map((r) => r.name)).toEqual(['commands', 'migrations', 'outbox_events']);
    const { rows: schemas } = await db.pool.query<{ name: string }>(`SELECT nspname AS name FROM pg_namespace WHERE nspname IN ('oncely', $1, 'pgboss') ORDER BY 1`, [
      SCHEMA,
    ]);
    expect(schemas.map((r) => r.name)).toEqual(['pgboss', SCHEMA]);
    const { rows: journal } = await db.pool.query(`SELECT domain, name FROM ${SCHEMA}.migrations ORDER BY applied_at, domain, name`);
    expect(journal).toEqual([
      { domain: 'oncely', name: '0000_baseline' },
      { domain: 'gift-cards', name: '0000_gift_cards' },
      { domain: 'gift-cards', name: '0001_gift_card_notes' },
      { domain: 'vouchers', name: '0000_vouchers' },
      { domain: 'vouchers', name: '0001_voucher_codes' },
    ]);
    // Each file in one transaction, in order: the second file of each domain found what the first created.
    const { rows: columns } = await db.pool.query<{ name: string }>(
      `SELECT table_name || '.' || column_name AS name FROM information_schema.columns WHERE table_name IN ('gift_cards', 'vouchers') ORDER BY 1`,
    );
    expect(columns.map((c) => c.name)).toEqual(['gift_cards.amount', 'gift_cards.id', 'gift_cards.note', 'vouchers.code', 'vouchers.id']);
  });

  it('runs the engine in that schema: commands submitted in the application’s transaction are applied once, stats and gauges read them', async () => {
    oncely = createOncely({ databaseUrl: db.url, domains: [giftCards], schema: SCHEMA, config: FAST_ENV, logger: createLogger('silent', 'test') });
    await oncely.start({ api: true, worker: true });
    const started = oncely;
    const card = { id: 'issue-g1', type: 'gift.issue' as const, entityId: 'g1', payload: { amount: 2500 } };
    await withTransaction(db.pool, async (tx) => {
      await tx.query(`INSERT INTO orders (account_id, total) VALUES (1, 25.00)`);
      await started.submit(tx, [card]);
    });
    // Rolled back: nothing of it is stored.
    await withTransaction(db.pool, async (tx) => {
      await started.submit(tx, [{ ...card, id: 'issue-g2', entityId: 'g2' }]);
      throw new Error('the application changed its mind');
    }).catch(() => {});
    await waitUntil(
      async () => (await db.pool.query<{ status: string }>(`SELECT status FROM ${SCHEMA}.commands WHERE id = 'issue-g1'`)).rows[0]?.status,
      (status) => status === 'succeeded',
      20_000,
      'issue-g1 to succeed',
    );
    // A duplicate submitted again is answered from the stored command, with no second effect.
    await withTransaction(db.pool, (tx) => started.submit(tx, [card]));
    expect((await db.pool.query(`SELECT id, amount::int AS amount FROM gift_cards`)).rows).toEqual([{ id: 'g1', amount: 2500 }]);
    expect((await db.pool.query(`SELECT id FROM ${SCHEMA}.commands ORDER BY id`)).rows).toEqual([{ id: 'issue-g1' }]);

    const status = await started.app.request('/v1/commands/issue-g1');
    expect(await status.json()).toMatchObject({ id: 'issue-g1', status: 'succeeded', result: { id: 'g1', amount: 2500 } });
    const stats = await started.app.request('/v1/stats');
    expect(stats.status).toBe(200);
    expect(await stats.json()).toMatchObject({ outcomes: { succeeded: 1 }, queue: { depth: 0 } });
    const metrics = await (await started.app.request('/metrics')).text();
    expect(metrics).toMatch(/oncely_queue_depth(\{[^}]*\})? 0/);
    expect(await publicTables()).toEqual(['accounts', 'gift_cards', 'orders', 'vouchers']);
    // Its jobs are on queues of its own: another oncely in this database (another schema) never takes them.
    const { rows: queues } = await db.pool.query<{ name: string }>(`SELECT DISTINCT name FROM pgboss.job ORDER BY 1`);
    expect(queues).toEqual([{ name: `${SCHEMA}-commands` }]);
  });

  it('refuses an applied migration whose file has changed, naming the domain and the file', async () => {
    const folder = await mkdtemp(path.join(os.tmpdir(), 'oncely-migrations-'));
    try {
      await cp(path.join(FIXTURES, 'migrations'), folder, { recursive: true });
      const notes = defineDomain({ name: 'notes', commands: [], tables: {}, reads: [], migrations: folder });
      await writeFile(path.join(folder, '0000_gift_cards.sql'), 'CREATE TABLE notes_table (id text PRIMARY KEY);');
      await writeFile(path.join(folder, '0001_gift_card_notes.sql'), 'CREATE TABLE notes_table_2 (id text PRIMARY KEY);');
      await runMigrations(db.url, { schema: SCHEMA, domains: [notes] });
      await writeFile(path.join(folder, '0001_gift_card_notes.sql'), 'CREATE TABLE notes_table_3 (id text PRIMARY KEY);');
      await expect(runMigrations(db.url, { schema: SCHEMA, domains: [notes] })).rejects.toThrow(
        /migration 0001_gift_card_notes of notes was applied, and its file has changed/,
      );
      expect((await db.pool.query(`SELECT to_regclass('notes_table_3') AS t`)).rows[0]).toEqual({ t: null });
    } finally {
      await rm(folder, { recursive: true, force: true });
    }
  });

  it('refuses a domain named oncely with migrations of its own: the journal keeps the engine under that name', async () => {
    const impostor = defineDomain({ name: 'oncely', commands: [], tables: {}, reads: [], migrations: path.join(FIXTURES, 'migrations') });
    await expect(runMigrations(db.url, { schema: SCHEMA, domains: [impostor] })).rejects.toThrow(/a domain named oncely cannot have migrations/);
  });

  it('refuses a schema name that is not a plain identifier, or is public or pgboss, with one ConfigError', () => {
    for (const schema of ['public', 'pgboss', 'Oncely', 'on-cely', '1oncely', 'a'.repeat(64), 'x"; drop table accounts; --']) {
      expect(() => createOncely({ databaseUrl: db.url, domains: [giftCards], schema }), schema).toThrow(ConfigError);
    }
    expect(() => createOncely({ databaseUrl: db.url, domains: [giftCards], config: { ONCELY_SCHEMA: 'public' } })).toThrow(/ONCELY_SCHEMA must not be public/);
    expect(() => createOncely({ databaseUrl: db.url, domains: [giftCards], schema: 'billing_oncely' })).not.toThrow();
  });
});
