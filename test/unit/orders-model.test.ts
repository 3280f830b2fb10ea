// The order state machine as given/when/then tables: no database, the pure decisions and the commands
// (their plans and decisions over rows in memory, with oncely/testing).
import { describe, expect, it } from 'vitest';
import { accountRows, ledgerRows } from '../../src/domains/accounts/rows.ts';
import { cancelOrder, createOrder, payOrder, shipOrder } from '../../src/domains/orders/commands.ts';
import { orderRows } from '../../src/domains/orders/rows.ts';
import { given } from '../../src/testing/index.ts';
import type { Account } from '../../src/domains/accounts/model.ts';
import {
  ORDER_STATUSES,
  ORDER_TRANSITIONS,
  decideCancel,
  decideOrder,
  decidePay,
  refundFor,
  type Order,
  type OrderAction,
  type OrderStatus,
} from '../../src/domains/orders/model.ts';

const order = (status: OrderStatus, amount = 300): Order => ({ id: 'o1', accountId: 'a1', amount, status, version: 4 });
const account = (balance: number): Account => ({ id: 'a1', currency: 'CNY', balance, version: 7 });

// Every (status, action) pair: the contract's diagram, written out as the answer each one must get.
const table: Array<[given: OrderStatus, when: OrderAction, then: OrderStatus | 'illegal']> = [
  ['CREATED', 'pay', 'PAID'],
  ['CREATED', 'ship', 'illegal'],
  ['CREATED', 'complete', 'illegal'],
  ['CREATED', 'cancel', 'CANCELLED'],
  ['PAID', 'pay', 'illegal'],
  ['PAID', 'ship', 'DELIVERED'],
  ['PAID', 'complete', 'illegal'],
  ['PAID', 'cancel', 'CANCELLED'],
  ['DELIVERED', 'pay', 'illegal'],
  ['DELIVERED', 'ship', 'illegal'],
  ['DELIVERED', 'complete', 'COMPLETED'],
  ['DELIVERED', 'cancel', 'illegal'],
  ['COMPLETED', 'pay', 'illegal'],
  ['COMPLETED', 'ship', 'illegal'],
  ['COMPLETED', 'complete', 'illegal'],
  ['COMPLETED', 'cancel', 'illegal'],
  ['CANCELLED', 'pay', 'illegal'],
  ['CANCELLED', 'ship', 'illegal'],
  ['CANCELLED', 'complete', 'illegal'],
  ['CANCELLED', 'cancel', 'illegal'],
];

describe('order state machine', () => {
  it('covers every status and action exactly once', () => {
    const pairs = new Set(table.map(([given, when]) => `${given}/${when}`));
    expect(pairs.size).toBe(ORDER_STATUSES.length * Object.keys(ORDER_TRANSITIONS).length);
    expect(table.length).toBe(pairs.size);
  });

  it.each(table)('given %s, when %s, then %s', (given, when, then) => {
    const decision = decideOrder(order(given), when);
    if (then === 'illegal') {
      expect(decision).toEqual({
        ok: false,
        outcome: { status: 'rejected', error: expect.objectContaining({ code: 'illegal_transition', details: { from: given, to: ORDER_TRANSITIONS[when].to } }) },
      });
    } else {
      expect(decision).toEqual({ ok: true, state: { ...order(given), status: then } });
    }
  });
});

describe('paying an order', () => {
  const cases: Array<{ given: { status: OrderStatus; amount: number; balance: number }; then: string | { balance: number } }> = [
    { given: { status: 'CREATED', amount: 300, balance: 1000 }, then: { balance: 700 } },
    { given: { status: 'CREATED', amount: 300, balance: 300 }, then: { balance: 0 } },
    { given: { status: 'CREATED', amount: 300, balance: 299 }, then: 'insufficient_funds' },
    { given: { status: 'PAID', amount: 300, balance: 1000 }, then: 'illegal_transition' },
    // An illegal transition is reported as such even when the money would not suffice either.
    { given: { status: 'CANCELLED', amount: 300, balance: 0 }, then: 'illegal_transition' },
  ];
  it.each(cases)('given $given, then $then', ({ given, then }) => {
    const decision = decidePay(order(given.status, given.amount), account(given.balance));
    if (typeof then === 'string') {
      expect(decision.ok).toBe(false);
      if (!decision.ok) expect(decision.outcome).toMatchObject({ status: 'rejected', error: { code: then } });
    } else {
      expect(decision).toEqual({ ok: true, state: { order: { ...order(given.status, given.amount), status: 'PAID' }, account: account(then.balance) } });
    }
  });
});

describe('cancelling an order', () => {
  it.each([
    ['CREATED', 0],
    ['PAID', 300],
    ['DELIVERED', 0],
    ['COMPLETED', 0],
    ['CANCELLED', 0],
  ] as const)('given %s, the refund is %i', (status, refund) => {
    expect(refundFor(order(status))).toBe(refund);
  });

  it('credits a PAID order back to its account', () => {
    expect(decideCancel(order('PAID'), account(50))).toEqual({
      ok: true,
      state: { order: { ...order('PAID'), status: 'CANCELLED' }, account: account(350) },
    });
  });

  it('touches no account for a CREATED order', () => {
    expect(decideCancel(order('CREATED'), null)).toEqual({ ok: true, state: { order: { ...order('CREATED'), status: 'CANCELLED' }, account: null } });
  });

  it('refuses a DELIVERED order with from and to', () => {
    const decision = decideCancel(order('DELIVERED'), null);
    expect(decision.ok).toBe(false);
    if (!decision.ok) expect(decision.outcome).toMatchObject({ error: { code: 'illegal_transition', details: { from: 'DELIVERED', to: 'CANCELLED' } } });
  });

  it('refuses a refund that would overflow the account', () => {
    const decision = decideCancel(order('PAID'), account(Number.MAX_SAFE_INTEGER));
    expect(decision.ok).toBe(false);
    if (!decision.ok) expect(decision.outcome).toMatchObject({ error: { code: 'balance_limit' } });
  });
});

describe('the order commands, over rows in memory', () => {
  const a1: Account = { id: 'a1', currency: 'CNY', balance: 500, version: 7 };
  const created: Order = { id: 'o1', accountId: 'a1', amount: 300, status: 'CREATED', version: 1 };

  it('creates an order for an existing account', () => {
    given(accountRows, [a1])
      .when(createOrder, { entityId: 'o1', payload: { accountId: 'a1', amount: 300 } })
      .then({ status: 'succeeded', result: { status: 'CREATED', version: 1 } })
      .rows(orderRows, [created])
      .nothingElse();
    given(accountRows, [])
      .when(createOrder, { entityId: 'o1', payload: { accountId: 'a1', amount: 300 } })
      .thenRefused('not_found');
    given(accountRows, [a1])
      .and(orderRows, [created])
      .when(createOrder, { entityId: 'o1', payload: { accountId: 'a1', amount: 300 } })
      .thenRefused('already_exists');
  });

  it('pays: the order and the account it names change together', () => {
    given(orderRows, [created])
      .and(accountRows, [a1])
      .when(payOrder, { entityId: 'o1', id: 'pay-o1' })
      .then({ status: 'succeeded', result: { status: 'PAID', version: 2 } })
      .rows(orderRows, [{ ...created, status: 'PAID', version: 2 }])
      .rows(accountRows, [{ ...a1, balance: 200, version: 8 }])
      .appended(ledgerRows, [{ accountId: 'a1', clientId: 'anonymous', commandId: 'pay-o1', amount: -300, balanceAfter: 200 }])
      .nothingElse();
  });

  it('refuses to pay beyond the balance, an illegal transition and a stale version, writing nothing', () => {
    given(orderRows, [created])
      .and(accountRows, [{ ...a1, balance: 299 }])
      .when(payOrder, { entityId: 'o1' })
      .thenRefused('insufficient_funds');
    given(orderRows, [created]).when(shipOrder, { entityId: 'o1' }).thenRefused('illegal_transition', { from: 'CREATED', to: 'DELIVERED' });
    given(orderRows, [created]).when(shipOrder, { entityId: 'o1', expectedVersion: 3 }).thenConflict({ expectedVersion: 3, actualVersion: 1 });
  });

  it("cancels a paid order and credits its amount back; a created one's cancel moves no money", () => {
    const paid: Order = { ...created, status: 'PAID', version: 2 };
    given(orderRows, [paid])
      .and(accountRows, [a1])
      .when(cancelOrder, { entityId: 'o1' })
      .then({ status: 'succeeded', result: { status: 'CANCELLED', version: 3 } })
      .rows(accountRows, [{ ...a1, balance: 800, version: 8 }]);
    given(orderRows, [created])
      .and(accountRows, [a1])
      .when(cancelOrder, { entityId: 'o1' })
      .then({ status: 'succeeded', result: { status: 'CANCELLED', version: 2 } })
      .rows(orderRows, [{ ...created, status: 'CANCELLED', version: 2 }])
      .nothingElse();
  });
});
