// The account rules as given/when/then tables: no database, the pure decisions and the commands (their
// plans and decisions over rows in memory, with oncely/testing).
import { describe, expect, it } from 'vitest';
import { creditAccount, debitAccount, openAccount, transferMoney } from '../../src/domains/accounts/commands.ts';
import { MAX_BALANCE, credit, debit, transfer, type Account } from '../../src/domains/accounts/model.ts';
import { accountRows, ledgerRows } from '../../src/domains/accounts/rows.ts';
import { given } from '../../src/testing/index.ts';

const account = (id: string, balance: number, currency = 'CNY'): Account => ({ id, currency, balance, version: 1 });

describe('credit and debit', () => {
  const cases: Array<{ when: 'credit' | 'debit'; given: number; amount: number; then: number | string }> = [
    { when: 'credit', given: 0, amount: 500, then: 500 },
    { when: 'credit', given: MAX_BALANCE - 1, amount: 1, then: MAX_BALANCE },
    { when: 'credit', given: MAX_BALANCE, amount: 1, then: 'balance_limit' },
    { when: 'debit', given: 500, amount: 500, then: 0 },
    { when: 'debit', given: 500, amount: 200, then: 300 },
    { when: 'debit', given: 500, amount: 501, then: 'insufficient_funds' },
  ];
  it.each(cases)('given $given, when $when $amount, then $then', ({ when, given, amount, then }) => {
    const decision = (when === 'credit' ? credit : debit)(account('a', given), amount);
    if (typeof then === 'number') expect(decision).toEqual({ ok: true, state: account('a', then) });
    else expect(decision).toMatchObject({ ok: false, outcome: { status: 'rejected', error: { code: then } } });
  });
});

describe('transfer', () => {
  const cases: Array<{ from: Account; to: Account; amount: number; then: [number, number] | string }> = [
    { from: account('a', 100), to: account('b', 5), amount: 100, then: [0, 105] },
    { from: account('a', 100), to: account('b', 5), amount: 101, then: 'insufficient_funds' },
    { from: account('a', 100), to: account('a', 100), amount: 1, then: 'same_account' },
    { from: account('a', 100), to: account('b', 5, 'USD'), amount: 1, then: 'currency_mismatch' },
    { from: account('a', 100), to: account('b', MAX_BALANCE), amount: 1, then: 'balance_limit' },
  ];
  it.each(cases)('from $from.balance to $to.balance moving $amount: $then', ({ from, to, amount, then }) => {
    const decision = transfer(from, to, amount);
    if (typeof then === 'string') expect(decision).toMatchObject({ ok: false, outcome: { error: { code: then } } });
    else expect(decision).toEqual({ ok: true, state: { from: { ...from, balance: then[0] }, to: { ...to, balance: then[1] } } });
  });
});

describe('the account commands, over rows in memory', () => {
  const a1: Account = { id: 'a1', currency: 'CNY', balance: 100, version: 1 };
  const b1: Account = { id: 'b1', currency: 'CNY', balance: 5, version: 4 };

  it('opens an account at balance 0 and version 1, with the schema default currency', () => {
    given(accountRows, [])
      .when(openAccount, { entityId: 'a9' })
      .then({ status: 'succeeded', result: { balance: 0, version: 1 } })
      .rows(accountRows, [{ id: 'a9', currency: 'CNY', balance: 0, version: 1 }])
      .nothingElse();
  });

  it('refuses to open an account twice, and answers a wrong expectedVersion with a conflict', () => {
    given(accountRows, [a1])
      .when(openAccount, { entityId: 'a1', payload: { currency: 'USD' } })
      .thenRefused('already_exists');
    given(accountRows, [a1]).when(openAccount, { entityId: 'a1', expectedVersion: 0 }).thenConflict({ expectedVersion: 0, actualVersion: 1 });
  });

  it('credits: one version further, a ledger row and an event', () => {
    given(accountRows, [a1])
      .when(creditAccount, { entityId: 'a1', id: 'c1', payload: { amount: 50 } })
      .then({ status: 'succeeded', result: { balance: 150, version: 2 } })
      .rows(accountRows, [{ ...a1, balance: 150, version: 2 }])
      .appended(ledgerRows, [{ accountId: 'a1', clientId: 'anonymous', commandId: 'c1', amount: 50, balanceAfter: 150 }])
      .events([{ type: 'account.credited', entityId: 'a1', payload: { amount: 50, currency: 'CNY', balance: 150, version: 2 } }])
      .nothingElse();
  });

  it('refuses a debit beyond the balance, and a missing account, writing nothing', () => {
    given(accountRows, [a1])
      .when(debitAccount, { entityId: 'a1', payload: { amount: 101 } })
      .thenRefused('insufficient_funds', { accountId: 'a1', balance: 100, amount: 101 });
    given(accountRows, [a1])
      .when(debitAccount, { entityId: 'zz', payload: { amount: 1 } })
      .thenRefused('not_found');
  });

  it('transfers between two locked accounts in one decision', () => {
    given(accountRows, [a1, b1])
      .when(transferMoney, { entityId: 'a1', id: 't1', payload: { to: 'b1', amount: 100 } })
      .then({ status: 'succeeded', result: { from: { balance: 0, version: 2 }, to: { balance: 105, version: 5 } } })
      .rows(accountRows, [
        { ...a1, balance: 0, version: 2 },
        { ...b1, balance: 105, version: 5 },
      ])
      .appended(ledgerRows, [
        { accountId: 'a1', clientId: 'anonymous', commandId: 't1', amount: -100, balanceAfter: 0 },
        { accountId: 'b1', clientId: 'anonymous', commandId: 't1', amount: 100, balanceAfter: 105 },
      ]);
  });
});
