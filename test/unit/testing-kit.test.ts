// oncely/testing holds a decision to the processor's rules, and says so when a test's expectation is wrong:
// a row the plan does not name cannot be read, a phase-two key must lie later in the lock order, a refusal
// undoes what the decision staged, and every failed expectation is node:assert's AssertionError.
import { AssertionError } from 'node:assert';
import { integer, pgTable, text } from 'drizzle-orm/pg-core';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { defineCommand } from '../../src/core/command.ts';
import { rejected, succeeded } from '../../src/core/outcome.ts';
import { rowKey } from '../../src/core/table.ts';
import { creditAccount } from '../../src/domains/accounts/commands.ts';
import { accountRows } from '../../src/domains/accounts/rows.ts';
import { entityTable } from '../../src/processor/descriptors.ts';
import { decideInMemory, given, NotInPlan } from '../../src/testing/index.ts';

const boxes = pgTable('boxes', { id: text('id').primaryKey(), holds: text('holds').notNull(), count: integer('count').notNull(), version: integer('version').notNull() });
const boxRows = entityTable(boxes, { lockOrder: 50 });
const a1 = { id: 'a1', currency: 'CNY', balance: 10, version: 1 };

/** Reads the account the box names without locking it: a plan bug the kit must catch. */
const peek = defineCommand({
  type: 'box.peek',
  summary: 'Reads an account its plan does not name.',
  payload: z.strictObject({}),
  plan: (command) => ({ lock: [rowKey(boxRows, command.entityId)] }),
  decide: (command, state) => succeeded(state.get(accountRows, state.get(boxRows, command.entityId)!.holds)?.balance ?? null),
});

/** Names the account in phase two, but accounts (30) come before boxes (50): the batch would refuse it. */
const backwards = defineCommand({
  type: 'box.backwards',
  summary: 'A phase-two key earlier in the lock order.',
  payload: z.strictObject({}),
  plan: (command) => ({ lock: [rowKey(boxRows, command.entityId)], then: (state) => [rowKey(accountRows, state.get(boxRows, command.entityId)!.holds)] }),
  decide: () => succeeded(null),
});

/** Writes, then refuses: the refusal must leave nothing written. */
const writeThenRefuse = defineCommand({
  type: 'box.fill',
  summary: 'Fills a box, then changes its mind.',
  payload: z.strictObject({ count: z.number().int().default(1) }),
  plan: (command) => ({ lock: [rowKey(boxRows, command.entityId)] }),
  decide(command, state) {
    const box = state.get(boxRows, command.entityId)!;
    state.update(boxRows, { ...box, count: box.count + command.payload.count });
    state.emit({ type: 'box.filled', entityId: box.id, payload: {} });
    return rejected('changed_mind', 'no');
  },
});

describe('oncely/testing', () => {
  it('lets a decision read only what its plan locked or looked up', () => {
    given(boxRows, [{ id: 'b1', holds: 'a1', count: 0, version: 1 }])
      .and(accountRows, [a1])
      .when(peek, { entityId: 'b1' })
      .thenThrows(NotInPlan);
  });

  it('refuses a phase-two key earlier in the lock order, as the batch does', () => {
    given(boxRows, [{ id: 'b1', holds: 'a1', count: 0, version: 1 }])
      .and(accountRows, [a1])
      .when(backwards, { entityId: 'b1' })
      .thenThrows(/phase-two key in accounts breaks the lock order/);
  });

  it('undoes what a refused decision staged: no rows, no events', () => {
    given(boxRows, [{ id: 'b1', holds: 'a1', count: 0, version: 1 }])
      .when(writeThenRefuse, { entityId: 'b1' })
      .thenRefused('changed_mind');
    const { outcome, writes } = decideInMemory(writeThenRefuse, { entityId: 'b1', payload: { count: 3 } }, [
      [boxRows, [{ id: 'b1', holds: 'a1', count: 0, version: 1 }]],
    ]);
    expect(outcome).toEqual({ status: 'rejected', error: { code: 'changed_mind', message: 'no' } });
    expect(writes).toEqual({ rows: {}, appended: {}, events: [] });
  });

  it('fails with AssertionError when the outcome or the rows differ from what the test expects', () => {
    const credited = () => given(accountRows, [a1]).when(creditAccount, { entityId: 'a1', payload: { amount: 5 } });
    expect(() => credited().then({ status: 'succeeded', result: { balance: 16, version: 2 } })).toThrow(AssertionError);
    const written = credited().then({ status: 'succeeded', result: { balance: 15, version: 2 } });
    expect(() => written.rows(accountRows, [{ ...a1, balance: 15, version: 3 }])).toThrow(AssertionError);
    expect(() => written.nothingElse()).toThrow(AssertionError); // the ledger was written, and not checked
    expect(() => credited().thenRefused('insufficient_funds')).toThrow(AssertionError);
    expect(() => credited().thenThrows(Error)).toThrow(AssertionError);
  });

  it('says what is wrong with a test itself: a bad payload, bad rows, an awaited when', async () => {
    expect(() =>
      given(accountRows, [a1])
        .when(creditAccount, { entityId: 'a1', payload: { amount: -1 } })
        .then({ status: 'succeeded', result: null }),
    ).toThrow(/account.credit: the payload does not pass the command's schema: amount/);
    expect(() => given(accountRows, [{ ...a1, version: 0 }])).not.toThrow();
    expect(() =>
      given(accountRows, [{ ...a1, version: 0 }])
        .when(creditAccount, { entityId: 'a1', payload: { amount: 1 } })
        .then({ status: 'succeeded', result: null }),
    ).toThrow(/every row needs a string id and a version of at least 1/);
    await expect(
      async () => await (given(accountRows, [a1]).when(creditAccount, { entityId: 'a1', payload: { amount: 1 } }) as unknown as Promise<unknown>),
    ).rejects.toThrow(/is not a promise/);
  });
});
