// oncely as a library, through its public entry only (src/index.ts): a domain declared in this file,
// served by createOncely over HTTP, and commands submitted inside the caller's own transaction with
// submit(tx) on a pg.PoolClient and on a drizzle transaction. The guarantee pinned: the commands commit
// with the caller's writes or vanish with them (no command row, no job), and a bad command throws before
// anything is written.
import { randomBytes } from 'node:crypto';
import { eq } from 'drizzle-orm';
import { drizzle } from 'drizzle-orm/node-postgres';
import { integer, pgTable, text, timestamp } from 'drizzle-orm/pg-core';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inject } from 'vitest';
import { z } from 'zod';
import {
  accept,
  changeEntity,
  CommandRefusedError,
  createOncely,
  creationConflict,
  defineCommand,
  defineDomain,
  entityRead,
  entityTable,
  EntityVersion,
  OncelyUsageError,
  refuse,
  rejected,
  rowKey,
  submit,
  succeeded,
  type Decision,
  type Oncely,
  type RowOf,
} from '../../src/index.ts';
import { createLogger } from '../../src/log.ts';
import { useTestDatabase } from '../helpers/fixture.ts';
import { FAST_ENV, readStatus, waitForTerminal } from '../helpers/system.ts';
import { databaseUrlFor } from '../helpers/urls.ts';

// ---- a counters domain, as an application writes it against the public API ----

const COUNTERS_DDL = `
CREATE TABLE lib_counters (
  id text PRIMARY KEY,
  total integer NOT NULL CHECK (total >= 0),
  version integer NOT NULL,
  created_at timestamptz(3) NOT NULL DEFAULT now(),
  updated_at timestamptz(3) NOT NULL DEFAULT now()
);
-- The application's own business row, written in the same transaction as the commands.
CREATE TABLE lib_requests (id text PRIMARY KEY, note text NOT NULL)`;

const counters = pgTable('lib_counters', {
  id: text('id').primaryKey(),
  total: integer('total').notNull(),
  version: integer('version').notNull(),
  createdAt: timestamp('created_at', { withTimezone: true, precision: 3 }).notNull().defaultNow(),
  updatedAt: timestamp('updated_at', { withTimezone: true, precision: 3 }).notNull().defaultNow(),
});
const requests = pgTable('lib_requests', { id: text('id').primaryKey(), note: text('note').notNull() });

// One declaration: the descriptor and the row type come from the drizzle table.
const counterRows = entityTable(counters, { lockOrder: 901 });
type Counter = RowOf<typeof counterRows>;
const counter = { table: counterRows, name: 'counter' };
const view = (saved: Counter) => ({ total: saved.total, version: saved.version });

function decideTake(current: Counter, amount: number): Decision<Counter> {
  return current.total < amount
    ? refuse('too_few', `counter ${current.id} holds ${current.total}`, { total: current.total })
    : accept({ ...current, total: current.total - amount });
}

const create = defineCommand({
  type: 'counter.create',
  summary: 'A counter at 0.',
  payload: z.strictObject({}),
  plan: (command) => ({ lock: [rowKey(counterRows, command.entityId)] }),
  decide(command, state) {
    const existing = state.get(counterRows, command.entityId);
    if (existing) return creationConflict(command, existing.version) ?? rejected('already_exists', `counter ${command.entityId} exists`);
    return creationConflict(command, null) ?? succeeded(view(state.insert(counterRows, { id: command.entityId, total: 0 })));
  },
});
const add = defineCommand({
  type: 'counter.add',
  summary: 'Adds to a counter.',
  payload: z.strictObject({ amount: z.number().int().min(1).max(1000) }),
  plan: (command) => ({ lock: [rowKey(counterRows, command.entityId)] }),
  decide: (command, state) => changeEntity(state, counter, command, (current) => accept({ ...current, total: current.total + command.payload.amount }), view),
});
const take = defineCommand({
  type: 'counter.take',
  summary: 'Takes from a counter, refused when it holds too few.',
  payload: z.strictObject({ amount: z.number().int().min(1).max(1000) }),
  plan: (command) => ({ lock: [rowKey(counterRows, command.entityId)] }),
  decide: (command, state) => changeEntity(state, counter, command, (current) => decideTake(current, command.payload.amount), view),
});

const CounterSchema = z.object({ id: z.string(), total: z.number().int(), version: EntityVersion }).meta({ id: 'LibCounter' });

const countersDomain = defineDomain({
  name: 'lib-counters',
  commands: [create, add, take],
  tables: { counters },
  rows: [counterRows],
  reads: [
    entityRead({
      collection: 'lib-counters',
      name: 'counter',
      schema: CounterSchema,
      read: async ({ db }, id) => {
        const [row] = await db.select({ id: counters.id, total: counters.total, version: counters.version }).from(counters).where(eq(counters.id, id));
        return row ?? null;
      },
    }),
  ],
});

// ---- the application ----

const db = useTestDatabase();
let oncely: Oncely<readonly [typeof countersDomain]>;
const quiet = createLogger('silent', 'library-test');

beforeAll(async () => {
  await db.pool.query(COUNTERS_DDL);
  oncely = createOncely({ databaseUrl: db.url, domains: [countersDomain], config: FAST_ENV, logger: quiet });
  await oncely.start({ api: true, worker: true });
});
afterAll(async () => {
  await oncely?.stop();
});

const jobsFor = async (id: string) =>
  (
    await db.pool.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM pgboss.job WHERE name = 'oncely-commands' AND (data->>'id' = $1 OR data->'commands' @> jsonb_build_array(jsonb_build_object('id', $1::text)))`,
      [id],
    )
  ).rows[0]!.n;
const commandCount = async (ids: string[]) => (await db.pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM oncely.commands WHERE id = ANY($1)`, [ids])).rows[0]!.n;
const total = async (id: string) => (await db.pool.query<{ total: number }>(`SELECT total FROM lib_counters WHERE id = $1`, [id])).rows[0]?.total;

/** BEGIN, fn, COMMIT (or ROLLBACK when it throws) on a client of the test's pool. */
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

describe('oncely as a library', () => {
  it('serves the domain over HTTP: submission, outcome, refusal, entity read, with the typed client', async () => {
    const client = oncely.client();
    expect((await client.submit({ id: 'h-create', type: 'counter.create', entityId: 'h1', payload: {} }, { wait: 10 })).status.status).toBe('succeeded');
    const added = await client.submit({ id: 'h-add', type: 'counter.add', entityId: 'h1', payload: { amount: 5 } }, { wait: 10 });
    expect(added.status).toMatchObject({ status: 'succeeded', result: { total: 5, version: 2 } });
    const again = await client.submit({ id: 'h-add', type: 'counter.add', entityId: 'h1', payload: { amount: 5 } });
    expect(again.replayed).toBe(true);
    const refused = await client.submit({ id: 'h-take', type: 'counter.take', entityId: 'h1', payload: { amount: 6 } }, { wait: 10 });
    expect(refused.status).toMatchObject({ status: 'rejected', error: { code: 'too_few', details: { total: 5 } } });
    expect(await client.read('lib-counters', 'h1')).toEqual({ id: 'h1', total: 5, version: 2 });
    expect(await client.read('lib-counters', 'nope')).toBeNull();
    const res = await oncely.app.request('/v1/commands', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ id: 'h-bad', type: 'account.open', entityId: 'a' }),
    });
    // Only the domains given are served: the reference domains are not, unless the application adds them.
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ code: 'unknown_command_type' });
  });

  it('applies commands submitted in a pg.PoolClient transaction with a business row, once; duplicates and reused ids are answered, not stored', async () => {
    const submissions = await inTransaction(async (client) => {
      await client.query(`INSERT INTO lib_requests (id, note) VALUES ('r1', 'first')`);
      return submit(client, [
        // Commands stored together are queued in id order, not in list order: name them so the create runs first.
        { id: 'p1-a-create', type: 'counter.create', entityId: 'p1', payload: {} },
        { id: 'p1-b-add', type: 'counter.add', entityId: 'p1', payload: { amount: 7 } },
      ]);
    });
    expect(submissions.map((s) => [s.outcome, s.status.status])).toEqual([
      ['accepted', 'queued'],
      ['accepted', 'queued'],
    ]);
    expect(await waitForTerminal(db.pool, 'p1-b-add', 15_000)).toMatchObject({ status: 'succeeded', result: { total: 7, version: 2 } });

    const replays = await inTransaction((client) =>
      submit(client, [
        { id: 'p1-b-add', type: 'counter.add', entityId: 'p1', payload: { amount: 7 } },
        { id: 'p1-b-add', type: 'counter.add', entityId: 'p1', payload: { amount: 8 } },
      ]),
    );
    expect(replays.map((s) => [s.outcome, s.status.status])).toEqual([
      ['duplicate', 'succeeded'],
      ['reused', 'succeeded'],
    ]);
    expect(await jobsFor('p1-b-add')).toBe(1);
    expect(await total('p1')).toBe(7);
    expect((await db.pool.query(`SELECT note FROM lib_requests`)).rows).toEqual([{ note: 'first' }]);
  });

  it('applies commands submitted in a drizzle transaction, through the instance and the top-level submit alike', async () => {
    expect((await oncely.client().submit({ id: 'd1-create', type: 'counter.create', entityId: 'd1', payload: {} }, { wait: 10 })).status.status).toBe('succeeded');
    const orm = drizzle(db.pool);
    await orm.transaction(async (tx) => {
      await tx.insert(requests).values({ id: 'r2', note: 'drizzle' });
      const [added] = await oncely.submit(tx, [{ id: 'd1-add-2', type: 'counter.add', entityId: 'd1', payload: { amount: 2 } }]);
      expect(added?.outcome).toBe('accepted');
      // A nested transaction (a savepoint) runs on the same connection.
      await tx.transaction(async (inner) => submit(inner, [{ id: 'd1-add-3', type: 'counter.add', entityId: 'd1', payload: { amount: 3 } }], { oncely }));
    });
    for (const id of ['d1-add-2', 'd1-add-3']) expect((await waitForTerminal(db.pool, id, 15_000)).status).toBe('succeeded');
    expect(await total('d1')).toBe(5);
    expect((await db.pool.query(`SELECT note FROM lib_requests WHERE id = 'r2'`)).rows).toEqual([{ note: 'drizzle' }]);
  });

  it('leaves neither command nor job when the caller rolls back, with a pg client or a drizzle transaction', async () => {
    const boom = new Error('the application changed its mind');
    await expect(
      inTransaction(async (client) => {
        await client.query(`INSERT INTO lib_requests (id, note) VALUES ('r3', 'rolled back')`);
        const [submitted] = await submit(client, [{ id: 'rb-create', type: 'counter.create', entityId: 'rb1', payload: {} }]);
        expect(submitted?.outcome).toBe('accepted');
        expect(await jobsFor('rb-create')).toBe(0); // not visible outside the transaction either
        throw boom;
      }),
    ).rejects.toBe(boom);
    await expect(
      drizzle(db.pool).transaction(async (tx) => {
        await submit(tx, [{ id: 'rb-drizzle', type: 'counter.create', entityId: 'rb2', payload: {} }]);
        tx.rollback();
      }),
    ).rejects.toThrow(/rollback/i);
    expect(await commandCount(['rb-create', 'rb-drizzle'])).toBe(0);
    expect(await jobsFor('rb-create')).toBe(0);
    expect(await jobsFor('rb-drizzle')).toBe(0);
    expect((await db.pool.query(`SELECT count(*)::int AS n FROM lib_requests WHERE id = 'r3'`)).rows[0]).toEqual({ n: 0 });

    // The id was never stored, so submitting it again later creates the command.
    await inTransaction((client) => submit(client, [{ id: 'rb-create', type: 'counter.create', entityId: 'rb1', payload: {} }]));
    expect((await waitForTerminal(db.pool, 'rb-create', 15_000)).status).toBe('succeeded');
  });

  it('throws a typed refusal for a bad command and writes nothing, not even the good commands before it', async () => {
    const cases = [
      [{ id: 'bad-1', type: 'counter.add', entityId: 'p1', payload: { amount: 'seven' } }, 'invalid_payload'],
      [{ id: 'bad-2', type: 'counter.add', entityId: 'p1', payload: { amount: 1, extra: true } }, 'invalid_payload'],
      [{ id: 'bad-3', type: 'account.open', entityId: 'a1' }, 'unknown_command_type'],
      [{ id: 'bad 4', type: 'counter.create', entityId: 'x' }, 'invalid_request'],
    ] as const;
    for (const [command, reason] of cases) {
      const error = await inTransaction(async (client) => {
        await client.query(`INSERT INTO lib_requests (id, note) VALUES ($1, 'never')`, [`req-${command.id}`]);
        return submit(client, [{ id: 'good-first', type: 'counter.create', entityId: 'g1', payload: {} }, command]);
      }).catch((err: unknown) => err);
      expect(error).toBeInstanceOf(CommandRefusedError);
      expect(error).toMatchObject({ reason, index: 1 });
    }
    const refused = (await inTransaction((client) => submit(client, [{ id: 'bad-5', type: 'counter.add', entityId: 'p1', payload: { amount: 0 } }])).catch(
      (err: unknown) => err,
    )) as CommandRefusedError;
    expect(refused.errors.map((e) => e.path)).toEqual(['payload.amount']);
    expect(await commandCount(['good-first', 'bad-1', 'bad-2', 'bad-3', 'bad 4', 'bad-5'])).toBe(0);
    expect((await db.pool.query(`SELECT count(*)::int AS n FROM lib_requests WHERE note = 'never'`)).rows[0]).toEqual({ n: 0 });
    expect(await jobsFor('good-first')).toBe(0);
  });

  it('refuses what is not a transaction: an idle client, a pool, a drizzle database over a pool', async () => {
    const client = await db.pool.connect();
    try {
      await expect(submit(client, [{ id: 'idle', type: 'counter.create', entityId: 'i1' }])).rejects.toThrow(OncelyUsageError);
    } finally {
      client.release();
    }
    await expect(submit(db.pool as never, [{ id: 'pool', type: 'counter.create', entityId: 'i1' }])).rejects.toThrow(/pool/);
    await expect(submit(drizzle(db.pool) as never, [{ id: 'orm', type: 'counter.create', entityId: 'i1' }])).rejects.toThrow(/pool/);
    expect(await readStatus(db.pool, 'idle')).toBeNull();
  });

  it('runs with a separate submit-only instance and a worker instance, each named to submit', async () => {
    const submitter = createOncely({ databaseUrl: db.url, domains: [countersDomain], config: FAST_ENV, logger: quiet });
    await submitter.start({});
    try {
      // Two oncelys are started in this process now: the top-level submit must be told which.
      await expect(inTransaction((c) => submit(c, [{ id: 's-x', type: 'counter.create', entityId: 's0' }]))).rejects.toThrow(/pass \{ oncely \}/);
      await inTransaction((c) => submit(c, [{ id: 's-create', type: 'counter.create', entityId: 's1' }], { oncely: submitter }));
      expect((await waitForTerminal(db.pool, 's-create', 15_000)).status).toBe('succeeded');
      expect(() => submitter.app).toThrow(/api role/);
      // `domains` narrows what this call accepts, to types the instance also serves.
      const narrowed = await inTransaction((c) => submit(c, [{ id: 's-narrow', type: 'counter.create', entityId: 's2' }], { oncely: submitter, domains: [] })).catch(
        (err: unknown) => err,
      );
      expect(narrowed).toMatchObject({ name: 'CommandRefusedError', reason: 'unknown_command_type' });
      expect(await readStatus(db.pool, 's-narrow')).toBeNull();
    } finally {
      await submitter.stop();
    }
  });
});

describe('migrate', () => {
  it('refuses to start on a database it has not migrated, then migrates it and starts', async () => {
    const adminUrl = inject('adminUrl');
    const name = `oncely_lib_${randomBytes(5).toString('hex')}`;
    const admin = new pg.Client({ connectionString: adminUrl });
    await admin.connect();
    await admin.query(`CREATE DATABASE ${name}`);
    const url = databaseUrlFor(adminUrl, name);
    const fresh = createOncely({ databaseUrl: url, domains: [countersDomain], config: FAST_ENV, logger: quiet });
    try {
      await expect(fresh.start({})).rejects.toThrow(/not current.*migrate/);
      await fresh.migrate();
      await fresh.migrate(); // idempotent
      // oncely's schema is current, but the application's own table is not there yet: a clear refusal, not failed batches.
      await expect(fresh.start({ api: true })).rejects.toThrow(/table lib_counters does not exist/);
      const app = new pg.Client({ connectionString: url });
      await app.connect();
      await app.query(COUNTERS_DDL).finally(() => app.end());
      await fresh.start({ api: true });
      expect((await fresh.app.request('/health/ready')).status).toBe(200);
    } finally {
      await fresh.stop();
      await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await admin.end();
    }
  });

  it('checks the configuration and the domains up front', () => {
    expect(() => createOncely({ databaseUrl: 'postgres://u@h/db', domains: [countersDomain], config: { WORKER_CONCURRENCY: 0 } })).toThrow(/WORKER_CONCURRENCY/);
    expect(() => createOncely({ databaseUrl: 'postgres://u@h/db', domains: [countersDomain], config: { WORKER_CONCURENCY: 4 } as never })).toThrow(
      /unknown setting WORKER_CONCURENCY/,
    );
    expect(() => createOncely({ databaseUrl: 'mysql://h/db', domains: [countersDomain] })).toThrow(/DATABASE_URL/);
    expect(() => createOncely({ databaseUrl: 'postgres://u@h/db', domains: [countersDomain, countersDomain] })).toThrow(/declared by both/);
  });
});
