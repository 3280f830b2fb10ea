// createOncely and the oncely CLI behind a real PgBouncer in transaction pooling mode (Debian's 1.18: no
// protocol-level prepared statements, no startup settings): the application's own transactions and oncely's
// go through the pooler, and only what needs a session (the migrations and their lock, pg-boss and its LISTEN,
// the `Prefer: wait` listener) takes the direct connection. An empty database is migrated by the library;
// submit(tx) with duplicates in concurrent transactions and a rollback, HTTP submissions and waits, then the
// CLI's read commands, its migrate and a replay: each command stored and applied once, money conserved.
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPgBouncer, type PgBouncer } from '../../chaos/pgbouncer.ts';
import { withTransaction } from '../../src/db/pool.ts';
import { createOncely, submit, type Oncely } from '../../src/library/oncely.ts';
import { createLogger } from '../../src/log.ts';
import { referenceDomains } from '../../src/domains/index.ts';
import { runCli } from '../helpers/cli.ts';
import { createEmptyDatabase, type TestDatabase } from '../helpers/db.ts';
import { FAST_ENV, waitForAllTerminal, waitForTerminal } from '../helpers/system.ts';

let db: TestDatabase;
let bouncer: PgBouncer;
let pooled: string;
/** The application's own pool, through the pooler, as an application behind PgBouncer has it. */
let app: pg.Pool;
let oncely: Oncely<typeof referenceDomains>;
const quiet = createLogger('silent', 'library-pooler');
const config = FAST_ENV;

beforeAll(async () => {
  db = await createEmptyDatabase();
  bouncer = await startPgBouncer({ target: db.url, poolSize: 20 });
  pooled = bouncer.urlFor(db.url);
  app = new pg.Pool({ connectionString: pooled, max: 6 });
  app.on('error', () => {});
  await db.pool.query('CREATE TABLE shop_requests (id text PRIMARY KEY)');
});
afterAll(async () => {
  await oncely?.stop();
  await app?.end();
  await bouncer?.stop();
  await db?.drop();
});

/** BEGIN, fn, COMMIT (ROLLBACK when it throws) on a client of the application's pooled pool. */
const inTransaction = <T>(fn: (client: pg.PoolClient) => Promise<T>): Promise<T> => withTransaction(app, fn);

const cliEnv = () => ({ DATABASE_URL: pooled, DATABASE_DIRECT_URL: db.url, DATABASE_POOLER: 'transaction' });
const count = async (where: string, values: unknown[] = []) =>
  (await db.pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM oncely.commands WHERE ${where}`, values)).rows[0]!.n;

describe('createOncely behind PgBouncer in transaction pooling mode', () => {
  it('refuses to migrate with databaseUrl at the pooler and no directDatabaseUrl, saying what to give', async () => {
    const alone = createOncely({ databaseUrl: pooled, domains: referenceDomains, config, logger: quiet });
    await expect(alone.migrate()).rejects.toThrow(/looks like a transaction-pooling pooler.*DATABASE_DIRECT_URL/);
    await alone.stop();
    expect(() => createOncely({ databaseUrl: pooled, domains: referenceDomains, config: { DATABASE_DIRECT_URL: db.url } as never })).toThrow(
      /unknown setting DATABASE_DIRECT_URL \(give the database as directDatabaseUrl\)/,
    );
    expect(() => createOncely({ databaseUrl: pooled, pooler: 'transaction', domains: referenceDomains })).toThrow(/DATABASE_DIRECT_URL/);
  });

  it('migrates an empty database over the direct connection and starts with the pooler as databaseUrl', async () => {
    oncely = createOncely({ databaseUrl: pooled, directDatabaseUrl: db.url, domains: referenceDomains, config, logger: quiet });
    await oncely.migrate();
    // Twice, as every process of a deployment may: the migration lock is a session lock on the direct connection.
    await Promise.all([oncely.migrate(), createOncely({ databaseUrl: pooled, directDatabaseUrl: db.url, domains: referenceDomains, config, logger: quiet }).migrate()]);
    await oncely.start({ api: true, worker: true });
    expect((await oncely.app.request('/health/ready')).status).toBe(200);
  });

  it('stores commands submitted in the application’s pooled transactions once, duplicates answered, a rollback leaving nothing', async () => {
    const opened = await inTransaction((client) => submit(client, [{ id: 'open-alice', type: 'account.open', entityId: 'alice', payload: {} }]));
    expect(opened.map((s) => s.outcome)).toEqual(['accepted']);
    expect((await waitForTerminal(db.pool, 'open-alice', 20_000)).status).toBe('succeeded');

    // Each credit three times at once, in three transactions of their own, each with a business row of its own.
    const ids = Array.from({ length: 20 }, (_, i) => `credit-alice-${i}`);
    const answers = await Promise.all(
      ids.flatMap((id, i) =>
        [0, 1, 2].map((copy) =>
          inTransaction(async (client) => {
            await client.query('INSERT INTO shop_requests (id) VALUES ($1)', [`${id}-${copy}`]);
            const [submission] = await submit(client, [{ id, type: 'account.credit', entityId: 'alice', payload: { amount: 10 + i } }], { oncely });
            return submission!.outcome;
          }),
        ),
      ),
    );
    expect(answers.filter((outcome) => outcome === 'accepted')).toHaveLength(ids.length);
    expect(answers.filter((outcome) => outcome === 'duplicate')).toHaveLength(2 * ids.length);

    await expect(
      inTransaction(async (client) => {
        await client.query(`INSERT INTO shop_requests (id) VALUES ('rolled-back')`);
        await submit(client, [{ id: 'credit-rolled-back', type: 'account.credit', entityId: 'alice', payload: { amount: 1000 } }]);
        throw new Error('the application changes its mind');
      }),
    ).rejects.toThrow(/changes its mind/);

    await waitForAllTerminal(db.pool, 30_000);
    expect(await count(`id LIKE 'credit-alice-%'`)).toBe(ids.length);
    expect(await count(`id LIKE 'credit-alice-%' AND status = 'succeeded'`)).toBe(ids.length);
    expect(await count(`id = 'credit-rolled-back'`)).toBe(0);
    expect((await db.pool.query(`SELECT 1 FROM shop_requests WHERE id = 'rolled-back'`)).rowCount).toBe(0);
    const expected = ids.reduce((sum, _, i) => sum + 10 + i, 0);
    const { rows } = await db.pool.query<{ balance: number; entries: number }>(
      `SELECT (SELECT balance FROM accounts WHERE id = 'alice')::int AS balance, (SELECT count(*)::int FROM ledger_entries WHERE account_id = 'alice') AS entries`,
    );
    expect(rows[0]).toEqual({ balance: expected, entries: ids.length });
  });

  it('answers HTTP submissions with duplicates, and Prefer: wait with the outcome (its LISTEN on the direct connection)', async () => {
    const client = oncely.client();
    const sent = { id: 'open-bob', type: 'account.open', entityId: 'bob', payload: {} } as const;
    const answers = await Promise.all([0, 1, 2, 3].map(() => client.submit(sent, { wait: 20 })));
    expect(answers.filter((answer) => !answer.replayed)).toHaveLength(1);
    expect(answers.filter((answer) => !answer.replayed)[0]!.status.status).toBe('succeeded');
    for (const answer of answers) expect(answer.status.status).toMatch(/^(queued|succeeded)$/);
    const credited = await client.submit({ id: 'credit-bob', type: 'account.credit', entityId: 'bob', payload: { amount: 42 } }, { wait: 20 });
    expect(credited.status).toMatchObject({ status: 'succeeded' });
    expect(await count(`id IN ('open-bob', 'credit-bob')`)).toBe(2);
  });
});

describe('the oncely CLI behind PgBouncer in transaction pooling mode', () => {
  it('reads through the pooler: status, stats and dead letters', async () => {
    const status = await runCli(['status', 'credit-alice-3', '--json'], cliEnv());
    expect(status.code, status.stderr).toBe(0);
    expect(JSON.parse(status.stdout)).toMatchObject({ id: 'credit-alice-3', status: 'succeeded' });

    const stats = await runCli(['stats', '--json'], cliEnv());
    expect(stats.code, stats.stderr).toBe(0);
    const figures = JSON.parse(stats.stdout) as { byStatus: Record<string, number>; queueDepth: number; deadLetters: number };
    expect(figures.byStatus['succeeded']).toBe(await count(`status = 'succeeded'`));
    expect(figures.queueDepth).toBe(0);
    expect(figures.deadLetters).toBe(0);

    const dead = await runCli(['dead-letters', '--json'], cliEnv());
    expect(dead.code, dead.stderr).toBe(0);
    expect(JSON.parse(dead.stdout)).toMatchObject({ items: [] });
  });

  it('migrates over the direct connection, and starts the queue there for a replay', async () => {
    const migrated = await runCli(['migrate', '--json'], cliEnv());
    expect(migrated.code, migrated.stderr).toBe(0);
    expect(JSON.parse(migrated.stdout)).toEqual({ schema: 'current' });
    // Not dead, so refused: but only after the queue started (pg-boss on the direct connection) and the row was read through the pooler.
    const replay = await runCli(['replay', 'credit-alice-3'], cliEnv());
    expect(replay.code).toBe(1);
    expect(replay.stderr).toMatch(/^oncely: command 'credit-alice-3' is succeeded, not dead/);
  });

  it('says in one line what to set when DATABASE_URL is the pooler and DATABASE_POOLER is not', async () => {
    const run = await runCli(['stats'], { DATABASE_URL: pooled });
    expect(run.code).toBe(1);
    expect(run.stderr.trimEnd().split('\n')).toEqual([
      expect.stringMatching(/^oncely: cannot connect to the database: .*unsupported startup parameter.*set DATABASE_POOLER=transaction and DATABASE_DIRECT_URL/),
    ]);
  });
});
