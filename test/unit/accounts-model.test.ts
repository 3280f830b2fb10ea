// The account rules as given/when/then tables: no database, only the pure decisions.
import { describe, expect, it } from 'vitest';
import { MAX_BALANCE, credit, debit, transfer, type Account } from '../../src/domains/accounts/model.ts';

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
