// The state guard: a transition is one UPDATE ... WHERE status = ANY($from) [AND version = $v], so an
// entity can only move along its state machine, whoever races it. Tested on the statement itself and
// through the processor, where an illegal transition or a stale version is a stored refusal that
// changes nothing.
import { beforeAll, describe, expect, it } from 'vitest';
import type pg from 'pg';
import type { CommandStatus } from '../../src/core/envelope.ts';
import { sqlOf } from '../../src/db/pool.ts';
import { ORDER_STATUSES, ORDER_TRANSITIONS, type Order, type OrderAction, type OrderStatus } from '../../src/domains/orders/model.ts';
import { orderRows } from '../../src/domains/orders/rows.ts';
import { moveOrder } from '../../src/domains/orders/store.ts';
import { RED_PACKET_TRANSITIONS, type RedPacketAction } from '../../src/domains/red-packets/model.ts';
import { GuardViolation, guardedTransition } from '../../src/processor/sql.ts';
import { useTestSystem } from '../helpers/fixture.ts';
import { waitForTerminal, waitUntil } from '../helpers/system.ts';

const { db, system } = useTestSystem();

beforeAll(async () => {
  await db.pool.query(`INSERT INTO accounts (id, currency, balance, version) VALUES ('sg', 'CNY', 1000000, 1)`);
});

interface NewCommand {
  id: string;
  type: string;
  entityId: string;
  expectedVersion?: number;
  payload?: Record<string, unknown>;
}

/** Submits through the processor and waits for every outcome. */
async function runAll(commands: NewCommand[]): Promise<CommandStatus[]> {
  await system.commands.submit(
    'anonymous',
    commands.map((c) => ({ id: c.id, type: c.type, entityId: c.entityId, expectedVersion: c.expectedVersion, payload: c.payload ?? {} })),
  );
  return Promise.all(commands.map((c) => waitForTerminal(db.pool, c.id)));
}

async function row(table: 'orders' | 'red_packets', id: string): Promise<{ status: string; version: number }> {
  const { rows } = await db.pool.query<{ status: string; version: number }>(`SELECT status, version FROM ${table} WHERE id = $1`, [id]);
  if (!rows[0]) throw new Error(`${table} ${id} is missing`);
  return rows[0];
}

async function insertOrder(id: string, status: OrderStatus, version = 1): Promise<void> {
  await db.pool.query(`INSERT INTO orders (id, account_id, amount, status, version) VALUES ($1, 'sg', 10, $2, $3)`, [id, status, version]);
}

async function withClient<T>(fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  const client = await db.pool.connect();
  try {
    return await fn(client);
  } finally {
    client.release();
  }
}

describe('the guarded statement', () => {
  it('moves a row only out of an allowed state, bumping the version', async () => {
    await insertOrder('g1', 'CREATED');
    const sql = sqlOf(db.pool);
    expect(await guardedTransition(sql, orderRows, 'g1', ['PAID'], 'DELIVERED')).toBeNull();
    expect(await row('orders', 'g1')).toEqual({ status: 'CREATED', version: 1 });
    expect(await guardedTransition(sql, orderRows, 'g1', ['CREATED'], 'PAID')).toBe(2);
    expect(await row('orders', 'g1')).toEqual({ status: 'PAID', version: 2 });
  });

  it('with a version, moves the row only at that version', async () => {
    await insertOrder('g2', 'PAID', 5);
    const sql = sqlOf(db.pool);
    expect(await guardedTransition(sql, orderRows, 'g2', ['PAID'], 'DELIVERED', 4)).toBeNull();
    expect(await row('orders', 'g2')).toEqual({ status: 'PAID', version: 5 });
    expect(await guardedTransition(sql, orderRows, 'g2', ['PAID'], 'DELIVERED', 5)).toBe(6);
  });

  it('lets exactly one of two racing transactions through, without any explicit lock', async () => {
    await insertOrder('g3', 'CREATED');
    await withClient(async (first) =>
      withClient(async (second) => {
        await first.query('BEGIN');
        await second.query('BEGIN');
        expect(await guardedTransition(sqlOf(first), orderRows, 'g3', ['CREATED'], 'PAID')).toBe(2);
        // The second UPDATE waits on the first one's row lock, then re-checks its WHERE against the
        // committed row: the status is no longer CREATED, so it changes nothing.
        const secondPid = (await second.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid;
        const cancelling = guardedTransition(sqlOf(second), orderRows, 'g3', ['CREATED'], 'CANCELLED');
        await waitUntil(
          async () =>
            (await db.pool.query<{ wait_event_type: string | null }>(`SELECT wait_event_type FROM pg_stat_activity WHERE pid = $1`, [secondPid])).rows[0]
              ?.wait_event_type,
          (waitEvent) => waitEvent === 'Lock',
          10_000,
          'the second UPDATE to wait on the row lock',
        );
        await first.query('COMMIT');
        expect(await cancelling).toBeNull();
        await second.query('COMMIT');
      }),
    );
    expect(await row('orders', 'g3')).toEqual({ status: 'PAID', version: 2 });
  });

  it('aborts a write that misses under the lock instead of writing an illegal state', async () => {
    await insertOrder('g4', 'DELIVERED', 3);
    // A handler that decided on a stale copy (status PAID, version 2) must not be able to write.
    const stale: Order = { id: 'g4', accountId: 'sg', amount: 10, status: 'PAID', version: 2 };
    await expect(moveOrder(sqlOf(db.pool), stale, ORDER_TRANSITIONS.ship)).rejects.toBeInstanceOf(GuardViolation);
    expect(await row('orders', 'g4')).toEqual({ status: 'DELIVERED', version: 3 });
  });
});

describe('illegal transitions through the processor', () => {
  it('refuses every order command the state machine does not allow, with from and to, and changes nothing', async () => {
    for (const status of ORDER_STATUSES) await insertOrder(`ill-${status}`, status, 7);
    const actions = Object.keys(ORDER_TRANSITIONS) as OrderAction[];
    const illegal = ORDER_STATUSES.flatMap((status) =>
      actions.filter((action) => !(ORDER_TRANSITIONS[action].from as readonly string[]).includes(status)).map((action) => ({ status, action })),
    );
    expect(illegal).toHaveLength(15);
    const outcomes = await runAll(illegal.map(({ status, action }) => ({ id: `ill-${status}-${action}`, type: `order.${action}`, entityId: `ill-${status}` })));
    for (const [i, { status, action }] of illegal.entries()) {
      expect(outcomes[i]).toMatchObject({
        status: 'rejected',
        error: { code: 'illegal_transition', details: { from: status, to: ORDER_TRANSITIONS[action].to } },
      });
    }
    for (const status of ORDER_STATUSES) expect(await row('orders', `ill-${status}`)).toEqual({ status, version: 7 });
    const { rows } = await db.pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM ledger_entries WHERE command_id LIKE 'ill-%'`);
    expect(rows[0]?.n).toBe(0);
  });

  it('refuses every red packet command the state machine does not allow', async () => {
    await insertOrder('ill-rp-order', 'PAID');
    await db.pool.query(
      `INSERT INTO red_packets (id, order_id, account_id, amount, status, version) VALUES
       ('ill-rp-PAID', 'ill-rp-order', 'sg', 5, 'PAID', 2), ('ill-rp-CANCELLED', 'ill-rp-order', 'sg', 5, 'CANCELLED', 2)`,
    );
    const cases: Array<{ status: 'PAID' | 'CANCELLED'; action: RedPacketAction }> = [
      { status: 'PAID', action: 'pay' },
      { status: 'PAID', action: 'cancel' },
      { status: 'CANCELLED', action: 'pay' },
      { status: 'CANCELLED', action: 'cancel' },
    ];
    const outcomes = await runAll(cases.map(({ status, action }) => ({ id: `ill-rp-${status}-${action}`, type: `redPacket.${action}`, entityId: `ill-rp-${status}` })));
    for (const [i, { status, action }] of cases.entries()) {
      expect(outcomes[i]).toMatchObject({ status: 'rejected', error: { code: 'illegal_transition', details: { from: status, to: RED_PACKET_TRANSITIONS[action].to } } });
    }
    expect(await row('red_packets', 'ill-rp-PAID')).toEqual({ status: 'PAID', version: 2 });
  });

  it('absorbs a retry that lost its command id: the second pay is refused and the money moves once', async () => {
    await insertOrder('retry-o', 'CREATED');
    const [first] = await runAll([{ id: 'retry-pay-1', type: 'order.pay', entityId: 'retry-o' }]);
    const [second] = await runAll([{ id: 'retry-pay-2', type: 'order.pay', entityId: 'retry-o' }]);
    expect(first).toMatchObject({ status: 'succeeded', result: { status: 'PAID', version: 2 } });
    expect(second).toMatchObject({ status: 'rejected', error: { code: 'illegal_transition', details: { from: 'PAID', to: 'PAID' } } });
    const { rows } = await db.pool.query(`SELECT command_id, amount::int AS amount FROM ledger_entries WHERE command_id LIKE 'retry-pay-%'`);
    expect(rows).toEqual([{ command_id: 'retry-pay-1', amount: -10 }]);
  });
});

describe('stale versions through the processor', () => {
  it('ends a command with a stale expectedVersion in conflict, naming both versions, and changes nothing', async () => {
    await insertOrder('stale-o', 'PAID', 4);
    const outcomes = await runAll([
      { id: 'stale-ship', type: 'order.ship', entityId: 'stale-o', expectedVersion: 3 },
      // A stale version is reported as a conflict even when the transition would be illegal as well.
      { id: 'stale-pay', type: 'order.pay', entityId: 'stale-o', expectedVersion: 9 },
    ]);
    expect(outcomes[0]).toMatchObject({ status: 'conflict', error: { details: { expectedVersion: 3, actualVersion: 4 } } });
    expect(outcomes[1]).toMatchObject({ status: 'conflict', error: { details: { expectedVersion: 9, actualVersion: 4 } } });
    expect(await row('orders', 'stale-o')).toEqual({ status: 'PAID', version: 4 });
    const [fresh] = await runAll([{ id: 'fresh-ship', type: 'order.ship', entityId: 'stale-o', expectedVersion: 4 }]);
    expect(fresh).toMatchObject({ status: 'succeeded', result: { status: 'DELIVERED', version: 5 } });
  });

  it('treats a creating command with expectedVersion as "version 0 = does not exist yet"', async () => {
    const outcomes = await runAll([
      { id: 'v0-create', type: 'order.create', entityId: 'v0-o', expectedVersion: 0, payload: { accountId: 'sg', amount: 3 } },
      { id: 'v1-create', type: 'order.create', entityId: 'v1-o', expectedVersion: 1, payload: { accountId: 'sg', amount: 3 } },
    ]);
    expect(outcomes[0]).toMatchObject({ status: 'succeeded', result: { status: 'CREATED', version: 1 } });
    expect(outcomes[1]).toMatchObject({ status: 'conflict', error: { details: { expectedVersion: 1, actualVersion: 0 } } });
    const { rows } = await db.pool.query(`SELECT id FROM orders WHERE id = 'v1-o'`);
    expect(rows).toEqual([]);
  });
});
