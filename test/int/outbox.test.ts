// Guarantee 11 (CONTRACT section 6), the database half: an event a succeeded command emits is stored in the
// same transaction as its effect, a refused (or failed) command stores none, ids are derived from the
// command and stable, one entity's events are stored in effect order, and the relay's claim hands one
// entity's events to one relay at a time, head first. The broker half is test/brokers/outbox-*.test.ts.
import { z } from 'zod';
import { describe, expect, it } from 'vitest';
import { defineCommand } from '../../src/core/command.ts';
import { Amount } from '../../src/core/envelope.ts';
import { eventId, storedEvents } from '../../src/core/event.ts';
import { rejected } from '../../src/core/outcome.ts';
import { createRegistry } from '../../src/core/registry.ts';
import { rowKey } from '../../src/core/table.ts';
import { accountRows } from '../../src/domains/accounts/rows.ts';
import { referenceDomains } from '../../src/domains/index.ts';
import { commandsOf } from '../../src/core/domain.ts';
import { createLogger } from '../../src/log.ts';
import { outboxSql } from '../../src/db/outbox-sql.ts';
import type { OutboundMessage } from '../../src/outbox/message.ts';
import type { Publisher } from '../../src/outbox/publisher.ts';
import { relayRound, startRelay, sweepOutbox } from '../../src/outbox/relay.ts';
import type { NewCommand } from '../../src/processor/submit.ts';
import { useTestSystem } from '../helpers/fixture.ts';
import { creditWithSql } from '../helpers/imperative.ts';
import { startTestSystem, waitForAllTerminal, waitUntil } from '../helpers/system.ts';

const outbox = outboxSql('oncely');

/** Emits, then refuses: nothing it emitted may be stored. */
const emitThenRefuse = defineCommand({
  type: 'test.emitThenRefuse',
  summary: 'emits an event, then refuses',
  payload: z.strictObject({}),
  plan: (command) => ({ lock: [rowKey(accountRows, command.entityId)] }),
  decide(command, state) {
    state.emit({
      type: 'test.never',
      entityId: command.entityId,
      payload: { n: 1 },
    });
    return rejected('refused', 'refused after emitting');
  },
});

/** Emits, then throws (a bug): retried, then dead; nothing stored. */
const emitThenThrow = defineCommand({
  type: 'test.emitThenThrow',
  summary: 'emits an event, then throws',
  payload: z.strictObject({}),
  plan: (command) => ({ lock: [rowKey(accountRows, command.entityId)] }),
  decide(command, state) {
    state.emit({
      type: 'test.never',
      entityId: command.entityId,
      payload: { n: 2 },
    });
    throw new Error('a bug after emitting');
  },
});

/** The imperative path: credits with its own SQL, then emits (or emits and refuses when amount is odd). */
const imperativeCredit = defineCommand({
  type: 'test.imperativeCredit',
  summary: 'an imperative handler that emits',
  payload: z.strictObject({ amount: Amount }),
  async handle(ctx) {
    const outcome = await creditWithSql(ctx.sql, ctx.command);
    ctx.emit({
      type: 'test.imperativeCredited',
      entityId: ctx.command.entityId,
      payload: { amount: ctx.command.payload.amount },
    });
    if (ctx.command.payload.amount % 2 === 1) return rejected('odd', 'odd amounts are refused after the write and the emit');
    return outcome;
  },
});

const registry = createRegistry([...commandsOf(referenceDomains), emitThenRefuse, emitThenThrow, imperativeCredit]);
const { db, system: api } = useTestSystem({
  registry,
  roles: { api: true, worker: false },
});

const command = (id: string, type: string, entityId: string, payload: object = {}): NewCommand => ({ id, type, entityId, payload, expectedVersion: undefined });

/** Submits, then lets one worker apply everything (one worker, big batches: refusals and successes share batches). */
async function apply(commands: NewCommand[]): Promise<void> {
  await api.commands.submit('anonymous', commands);
  const worker = await startTestSystem(db.url, {
    registry,
    roles: { api: false, worker: true },
    env: { WORKER_BATCH_SIZE: '50', WORKER_CONCURRENCY: '1', RETRY_LIMIT: '1' },
  });
  try {
    await waitForAllTerminal(db.pool);
  } finally {
    await worker.stop();
  }
}

interface Row {
  sequence: number;
  id: string;
  client_id: string;
  command_id: string;
  position: number;
  type: string;
  entity_id: string;
  payload: Record<string, number | string>;
  sent_at: Date | null;
}
const events = async (where = 'true', values: unknown[] = []) =>
  (
    await db.pool.query<Row>(
      `SELECT sequence::int AS sequence, id, client_id, command_id, position, type, entity_id, payload, sent_at FROM oncely.outbox_events WHERE ${where} ORDER BY 1`,
      values,
    )
  ).rows;

describe('outbox: events stored with the effect', () => {
  it('stores every succeeded command’s events and none of a refused or failed one, in batches mixing both', async () => {
    await apply([command('o-open-a', 'account.open', 'ob-a'), command('o-open-b', 'account.open', 'ob-b')]);
    await apply([command('o-fund-a', 'account.credit', 'ob-a', { amount: 1000 })]);
    const batch: NewCommand[] = [];
    for (let i = 0; i < 30; i++) {
      batch.push(
        command(`o-credit-${i}`, 'account.credit', i % 2 ? 'ob-a' : 'ob-b', {
          amount: 100 + i,
        }),
      );
      if (i % 5 === 0)
        batch.push(
          command(`o-debit-too-much-${i}`, 'account.debit', 'ob-a', {
            amount: 1_000_000,
          }),
        );
      if (i % 7 === 0) batch.push(command(`o-refuse-${i}`, 'test.emitThenRefuse', 'ob-b'));
      if (i % 3 === 0)
        batch.push(
          command(`o-transfer-${i}`, 'account.transfer', 'ob-a', {
            to: 'ob-b',
            amount: 7,
          }),
        );
    }
    batch.push(command('o-throw', 'test.emitThenThrow', 'ob-a'));
    batch.push(
      command('o-transfer-missing', 'account.transfer', 'ob-a', {
        to: 'ob-nowhere',
        amount: 1,
      }),
    );
    await apply(batch);

    const statuses = new Map((await db.pool.query<{ id: string; status: string }>(`SELECT id, status FROM oncely.commands`)).rows.map((r) => [r.id, r.status]));
    const stored = await events();
    // Every event belongs to a succeeded command; every refused, conflicting or dead command has none.
    for (const event of stored) expect(statuses.get(event.command_id)).toBe('succeeded');
    const refused = [...statuses].filter(([, status]) => status !== 'succeeded').map(([id]) => id);
    expect(refused.length).toBe(6 + 5 + 1 + 1);
    expect(statuses.get('o-throw')).toBe('dead');
    expect(stored.some((e) => e.type === 'test.never')).toBe(false);

    // Exactly one account event per ledger row (every balance change is announced), with its amount and balance.
    const ledger = (
      await db.pool.query<{
        seq: number;
        account_id: string;
        command_id: string;
        amount: number;
        balance_after: number;
      }>(`SELECT seq::int, account_id, command_id, amount::int, balance_after::int FROM ledger_entries ORDER BY seq`)
    ).rows;
    const accountEvents = stored.filter((e) => e.type.startsWith('account.'));
    expect(accountEvents.length).toBe(ledger.length);
    for (const entry of ledger) {
      const event = accountEvents.find((e) => e.command_id === entry.command_id && e.entity_id === entry.account_id);
      expect(event, `event of ${entry.command_id} on ${entry.account_id}`).toBeDefined();
      expect(event!.type).toBe(entry.amount > 0 ? 'account.credited' : 'account.debited');
      expect(event!.payload).toMatchObject({
        amount: Math.abs(entry.amount),
        balance: entry.balance_after,
        currency: 'CNY',
      });
    }
    // A transfer emits both sides, debit first (position 0), credit second.
    const transfer = stored.filter((e) => e.command_id === 'o-transfer-0');
    expect(transfer.map((e) => [e.type, e.entity_id, e.position])).toEqual([
      ['account.debited', 'ob-a', 0],
      ['account.credited', 'ob-b', 1],
    ]);

    // Per entity, stored order is effect order: each event's balance and version follow from the one before.
    for (const account of ['ob-a', 'ob-b']) {
      const chain = stored.filter((e) => e.entity_id === account);
      let balance = 0;
      let version = 1;
      for (const event of chain) {
        balance += (event.type === 'account.credited' ? 1 : -1) * Number(event.payload['amount']);
        version += 1;
        expect(event.payload).toMatchObject({ balance, version });
      }
      const final = (await db.pool.query<{ balance: number; version: number }>(`SELECT balance::int, version FROM accounts WHERE id = $1`, [account])).rows[0]!;
      expect({ balance, version }).toEqual({
        balance: final.balance,
        version: final.version,
      });
    }
  });

  it('derives each event id from client, command and position: stable, distinct, and stored once', async () => {
    const stored = await events();
    expect(stored.length).toBeGreaterThan(0);
    for (const event of stored) {
      expect(event.id).toMatch(/^evt_[0-9a-f]{32}$/);
      expect(event.id).toBe(eventId(event.client_id, event.command_id, event.position));
    }
    expect(new Set(stored.map((e) => e.id)).size).toBe(stored.length);
    expect(eventId('anonymous', 'c1', 0)).toBe(eventId('anonymous', 'c1', 0));
    expect(new Set([eventId('anonymous', 'c1', 0), eventId('anonymous', 'c1', 1), eventId('other', 'c1', 0), eventId('anonymous', 'c2', 0)]).size).toBe(4);
    // Resubmitting a succeeded command (a client retry) stores nothing more.
    const before = stored.length;
    await apply([command('o-credit-1', 'account.credit', 'ob-a', { amount: 101 })]);
    expect((await events()).length).toBe(before);
  });

  it('emits order.paid, order.cancelled and redPacket.paid with their money movements', async () => {
    await apply([command('o-open-c', 'account.open', 'oc-acc')]);
    await apply([
      command('o-fund-c', 'account.credit', 'oc-acc', { amount: 10_000 }),
      command('o-order-1', 'order.create', 'oc-ord-1', {
        accountId: 'oc-acc',
        amount: 2500,
      }),
      command('o-order-2', 'order.create', 'oc-ord-2', {
        accountId: 'oc-acc',
        amount: 400,
      }),
    ]);
    await apply([command('o-pay-1', 'order.pay', 'oc-ord-1')]);
    await apply([command('o-cancel-1', 'order.cancel', 'oc-ord-1'), command('o-cancel-2', 'order.cancel', 'oc-ord-2')]);
    await apply([
      command('o-rp-issue', 'redPacket.issue', 'oc-rp-1', {
        orderId: 'oc-ord-2',
        accountId: 'oc-acc',
        amount: 300,
      }),
    ]);
    expect((await events(`command_id = 'o-pay-1'`)).map((e) => [e.type, e.entity_id, e.payload])).toEqual([
      ['account.debited', 'oc-acc', { amount: 2500, currency: 'CNY', balance: 7500, version: 3 }],
      [
        'order.paid',
        'oc-ord-1',
        {
          accountId: 'oc-acc',
          amount: 2500,
          status: 'PAID',
          version: 2,
          balance: 7500,
        },
      ],
    ]);
    expect((await events(`command_id = 'o-cancel-1'`)).map((e) => [e.type, e.payload])).toEqual([
      ['account.credited', { amount: 2500, currency: 'CNY', balance: 10_000, version: 4 }],
      [
        'order.cancelled',
        {
          accountId: 'oc-acc',
          amount: 2500,
          refunded: 2500,
          status: 'CANCELLED',
          version: 3,
        },
      ],
    ]);
    expect((await events(`command_id = 'o-cancel-2'`)).map((e) => [e.type, e.payload])).toEqual([
      [
        'order.cancelled',
        {
          accountId: 'oc-acc',
          amount: 400,
          refunded: 0,
          status: 'CANCELLED',
          version: 2,
        },
      ],
    ]);
    // Issuing for a cancelled order is refused: no event. A red packet on a live order, then paid.
    expect(await events(`command_id = 'o-rp-issue'`)).toEqual([]);
    await apply([
      command('o-order-3', 'order.create', 'oc-ord-3', {
        accountId: 'oc-acc',
        amount: 100,
      }),
    ]);
    await apply([
      command('o-rp-issue-3', 'redPacket.issue', 'oc-rp-3', {
        orderId: 'oc-ord-3',
        accountId: 'oc-acc',
        amount: 300,
      }),
    ]);
    await apply([command('o-rp-pay-3', 'redPacket.pay', 'oc-rp-3')]);
    await apply([command('o-rp-pay-3-again', 'redPacket.pay', 'oc-rp-3')]);
    expect((await events(`command_id = 'o-rp-pay-3'`)).map((e) => [e.type, e.entity_id, e.payload])).toEqual([
      ['account.credited', 'oc-acc', { amount: 300, currency: 'CNY', balance: 10_300, version: 5 }],
      [
        'redPacket.paid',
        'oc-rp-3',
        {
          orderId: 'oc-ord-3',
          accountId: 'oc-acc',
          amount: 300,
          status: 'PAID',
          version: 2,
          balance: 10_300,
        },
      ],
    ]);
    expect(await events(`command_id = 'o-rp-pay-3-again'`)).toEqual([]);
  });

  it('stores an imperative handler’s emitted events with its effect, and none when it refuses', async () => {
    await apply([
      command('o-imp-open', 'account.open', 'oi-acc'),
      command('o-imp-2', 'test.imperativeCredit', 'oi-acc', { amount: 2 }),
      command('o-imp-3', 'test.imperativeCredit', 'oi-acc', { amount: 3 }),
      command('o-imp-4', 'test.imperativeCredit', 'oi-acc', { amount: 4 }),
    ]);
    const stored = await events(`entity_id = 'oi-acc' AND type = 'test.imperativeCredited'`);
    expect(stored.map((e) => [e.command_id, e.payload['amount'], e.id])).toEqual([
      ['o-imp-2', 2, eventId('anonymous', 'o-imp-2', 0)],
      ['o-imp-4', 4, eventId('anonymous', 'o-imp-4', 0)],
    ]);
    const balance = (await db.pool.query<{ balance: number }>(`SELECT balance::int FROM accounts WHERE id = 'oi-acc'`)).rows[0]!.balance;
    expect(balance).toBe(6);
  });
});

describe('outbox: the relay’s claim', () => {
  /** Stores `perEntity` events for each entity, interleaved across entities. */
  async function seed(prefix: string, entities: number, perEntity: number): Promise<void> {
    const drafts = [];
    for (let n = 0; n < perEntity; n++)
      for (let e = 0; e < entities; e++)
        drafts.push({
          type: 'test.tick',
          entityId: `${prefix}-${e}`,
          payload: { n },
        });
    await outbox.insert(db.pool, storedEvents({ clientId: 'claims', id: `${prefix}-seed` }, drafts));
  }

  it('gives a second claimer nothing of an entity whose head the first holds, and the next event only once the head is marked', async () => {
    await db.pool.query(`UPDATE oncely.outbox_events SET sent_at = now() WHERE sent_at IS NULL`);
    await seed('cl', 3, 2);
    const one = await db.pool.connect();
    const two = await db.pool.connect();
    try {
      await one.query('BEGIN');
      const first = await outbox.claim(one, 100);
      expect(first.map((e) => [e.entity_id, e.payload['n']])).toEqual([
        ['cl-0', 0],
        ['cl-1', 0],
        ['cl-2', 0],
        ['cl-0', 1],
        ['cl-1', 1],
        ['cl-2', 1],
      ]);
      await two.query('BEGIN');
      expect(await outbox.claim(two, 100)).toEqual([]);
      await two.query('COMMIT');
      // The holder marks only cl-0's head and commits: cl-0's second event is now a head; the rest come back.
      await outbox.markSent(one, [first[0]!.sequence]);
      await one.query('COMMIT');
      await two.query('BEGIN');
      const second = await outbox.claim(two, 100);
      expect(second.map((e) => [e.entity_id, e.payload['n']])).toEqual([
        ['cl-1', 0],
        ['cl-2', 0],
        ['cl-0', 1],
        ['cl-1', 1],
        ['cl-2', 1],
      ]);
      // While `two` holds them, a third claimer gets nothing, not even cl-0's second event.
      await one.query('BEGIN');
      expect(await outbox.claim(one, 100)).toEqual([]);
      await one.query('COMMIT');
      await two.query('ROLLBACK');
    } finally {
      one.release();
      two.release();
    }
    await db.pool.query(`UPDATE oncely.outbox_events SET sent_at = now() WHERE sent_at IS NULL`);
  });

  it('with two relays at once, publishes every event once, each entity in stored order, never past an unmarked earlier event', async () => {
    await seed('cc', 8, 40);
    const checker = db.pool;
    const violations: string[] = [];
    const published: { relay: number; entity: string; n: number }[] = [];
    // An in-process publisher stands in for the broker here: this test is about the claim only.
    const fake = (relay: number): Publisher & { pending: Set<string> } => {
      const pending = new Set<string>();
      return {
        broker: 'redis',
        pending,
        async publish(message: OutboundMessage): Promise<'stored'> {
          const envelope = JSON.parse(message.body) as {
            entityId: string;
            payload: { n: number };
          };
          const sequence = Number(message.headers['oncely-sequence']);
          // Every earlier event of this entity is marked sent, or was published by this relay in this round.
          const { rows } = await checker.query<{ id: string }>(`SELECT id FROM oncely.outbox_events WHERE entity_id = $1 AND sequence < $2 AND sent_at IS NULL`, [
            envelope.entityId,
            sequence,
          ]);
          for (const row of rows) if (!pending.has(row.id)) violations.push(`${message.id} went before ${row.id} was marked`);
          pending.add(message.id);
          published.push({
            relay,
            entity: envelope.entityId,
            n: envelope.payload.n,
          });
          await new Promise((resolve) => setTimeout(resolve, Math.random() * 3));
          return 'stored';
        },
        async close() {},
      };
    };
    const log = createLogger('silent', 'test');
    const publishers = [fake(1), fake(2)];
    const relays = publishers.map((publisher) =>
      startRelay({
        schema: 'oncely',
        pool: db.pool,
        publisher,
        batchSize: 5,
        pollIntervalMs: 10,
        typeMap: new Map(),
        log,
        hooks: { afterPublish: () => void publisher.pending.clear() },
      }),
    );
    try {
      await waitUntil(
        async () => (await events(`entity_id LIKE 'cc-%' AND sent_at IS NULL`)).length,
        (n) => n === 0,
        60_000,
        'every event sent',
      );
    } finally {
      for (const relay of relays) await relay.stop();
    }
    expect(violations).toEqual([]);
    expect(published.length).toBe(8 * 40);
    for (let e = 0; e < 8; e++) {
      expect(published.filter((p) => p.entity === `cc-${e}`).map((p) => p.n)).toEqual(Array.from({ length: 40 }, (_, n) => n));
    }
    // Both relays did share the work.
    expect(new Set(published.map((p) => p.relay)).size).toBe(2);
  });

  it('leaves a failed publish and everything behind it unsent, and marks the other entities’ events', async () => {
    await seed('cf', 2, 3);
    let calls = 0;
    const failing: Publisher = {
      broker: 'rabbitmq',
      publish(message) {
        calls++;
        const envelope = JSON.parse(message.body) as {
          entityId: string;
          payload: { n: number };
        };
        if (envelope.entityId === 'cf-0' && envelope.payload.n === 1) return Promise.reject(new Error('broker down'));
        return Promise.resolve('stored' as const);
      },
      async close() {},
    };
    const round = await relayRound({
      schema: 'oncely',
      pool: db.pool,
      publisher: failing,
      batchSize: 100,
      typeMap: new Map(),
    });
    expect(round).toEqual({ claimed: 6, marked: 4, failed: true });
    expect(calls).toBe(5);
    const unsent = await events(`entity_id LIKE 'cf-%' AND sent_at IS NULL`);
    expect(unsent.map((e) => [e.entity_id, e.payload['n']])).toEqual([
      ['cf-0', 1],
      ['cf-0', 2],
    ]);
  });
});

describe('outbox: retention', () => {
  it('deletes sent events older than the retention, never an unsent one', async () => {
    await db.pool.query(`UPDATE oncely.outbox_events SET sent_at = now() WHERE sent_at IS NULL AND entity_id NOT LIKE 'cf-%'`);
    await db.pool.query(`UPDATE oncely.outbox_events SET created_at = now() - interval '30 days' WHERE entity_id LIKE 'cf-%'`);
    await db.pool.query(`UPDATE oncely.outbox_events SET sent_at = now() - interval '2 hours' WHERE entity_id LIKE 'ob-%' AND sent_at IS NOT NULL`);
    const before = await events();
    const old = before.filter((e) => e.entity_id.startsWith('ob-') || (e.entity_id.startsWith('cf-') && e.sent_at && e.sent_at.getTime() < Date.now() - 3_600_000));
    expect(old.length).toBeGreaterThan(0);
    expect(await sweepOutbox(db.pool, 'oncely', 3_600_000)).toBe(old.length);
    const after = await events();
    expect(after.length).toBe(before.length - old.length);
    expect(after.filter((e) => e.entity_id.startsWith('ob-'))).toEqual([]);
    // The old unsent events (created 30 days ago) are still there.
    expect(after.filter((e) => e.sent_at === null).map((e) => e.entity_id)).toEqual(['cf-0', 'cf-0']);
  });
});
