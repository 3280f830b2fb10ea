// The red packet rules as given/when/then tables: no database, the pure decisions and the commands (their
// plans and decisions over rows in memory, with oncely/testing).
import { describe, expect, it } from 'vitest';
import { accountRows, ledgerRows } from '../../src/domains/accounts/rows.ts';
import { orderRows } from '../../src/domains/orders/rows.ts';
import { cancelRedPacket, issueRedPacket, payRedPacket } from '../../src/domains/red-packets/commands.ts';
import { redPacketRows } from '../../src/domains/red-packets/rows.ts';
import { given } from '../../src/testing/index.ts';
import type { Account } from '../../src/domains/accounts/model.ts';
import type { OrderStatus } from '../../src/domains/orders/model.ts';
import {
  RED_PACKET_TRANSITIONS,
  alreadyIssued,
  decideIssue,
  decideRedPacket,
  decideRedPacketPay,
  isLive,
  type RedPacket,
  type RedPacketAction,
  type RedPacketStatus,
} from '../../src/domains/red-packets/model.ts';

const redPacket = (status: RedPacketStatus, amount = 88): RedPacket => ({ id: 'rp1', orderId: 'o1', accountId: 'a1', amount, status, version: 2 });
const account = (balance: number): Account => ({ id: 'a1', currency: 'CNY', balance, version: 3 });

describe('issuing a red packet', () => {
  const cases: Array<[given: OrderStatus | 'missing', then: 'ok' | 'not_found' | 'order_not_eligible']> = [
    ['missing', 'not_found'],
    ['CREATED', 'ok'],
    ['PAID', 'ok'],
    ['DELIVERED', 'ok'],
    ['COMPLETED', 'ok'],
    ['CANCELLED', 'order_not_eligible'],
  ];
  it.each(cases)('given an order that is %s, then %s', (given, then) => {
    const decision = decideIssue(given === 'missing' ? null : { id: 'o1', status: given }, 'o1');
    if (then === 'ok') expect(decision).toEqual({ ok: true, state: null });
    else expect(decision).toMatchObject({ ok: false, outcome: { status: 'rejected', error: { code: then } } });
  });

  it('names the live red packet when the order already has one', () => {
    expect(alreadyIssued('o1', 'rp0')).toMatchObject({ ok: false, outcome: { status: 'rejected', error: { code: 'already_issued', details: { redPacketId: 'rp0' } } } });
  });

  it.each([
    ['CREATED', true],
    ['PAID', true],
    ['CANCELLED', false],
  ] as const)('a %s red packet is live: %s', (status, live) => {
    expect(isLive({ status })).toBe(live);
  });
});

describe('red packet state machine', () => {
  const table: Array<[given: RedPacketStatus, when: RedPacketAction, then: RedPacketStatus | 'illegal']> = [
    ['CREATED', 'pay', 'PAID'],
    ['CREATED', 'cancel', 'CANCELLED'],
    ['PAID', 'pay', 'illegal'],
    ['PAID', 'cancel', 'illegal'],
    ['CANCELLED', 'pay', 'illegal'],
    ['CANCELLED', 'cancel', 'illegal'],
  ];
  it.each(table)('given %s, when %s, then %s', (given, when, then) => {
    const decision = decideRedPacket(redPacket(given), when);
    if (then === 'illegal') {
      expect(decision).toMatchObject({
        ok: false,
        outcome: { status: 'rejected', error: { code: 'illegal_transition', details: { from: given, to: RED_PACKET_TRANSITIONS[when].to } } },
      });
    } else {
      expect(decision).toEqual({ ok: true, state: { ...redPacket(given), status: then } });
    }
  });

  it('pays a CREATED red packet into the account', () => {
    expect(decideRedPacketPay(redPacket('CREATED'), account(12))).toEqual({
      ok: true,
      state: { redPacket: { ...redPacket('CREATED'), status: 'PAID' }, account: account(100) },
    });
  });

  it('does not pay a red packet twice', () => {
    expect(decideRedPacketPay(redPacket('PAID'), account(12))).toMatchObject({ ok: false, outcome: { error: { code: 'illegal_transition' } } });
  });
});

describe('the red packet commands, over rows in memory', () => {
  const a1 = { id: 'a1', currency: 'CNY', balance: 100, version: 3 };
  const o1 = { id: 'o1', accountId: 'a1', amount: 300, status: 'PAID' as const, version: 2 };
  const issue = { entityId: 'rp1', payload: { orderId: 'o1', accountId: 'a1', amount: 88 } };

  it('issues one for an order, at version 1', () => {
    given(orderRows, [o1])
      .and(accountRows, [a1])
      .when(issueRedPacket, issue)
      .then({ status: 'succeeded', result: { status: 'CREATED', version: 1 } })
      .rows(redPacketRows, [{ id: 'rp1', orderId: 'o1', accountId: 'a1', amount: 88, status: 'CREATED', version: 1 }])
      .nothingElse();
  });

  it('finds the live one through its lookup, and refuses a second', () => {
    given(orderRows, [o1])
      .and(accountRows, [a1])
      .and(redPacketRows, [{ id: 'rp0', orderId: 'o1', accountId: 'a1', amount: 5, status: 'CREATED', version: 1 }])
      .when(issueRedPacket, issue)
      .thenRefused('already_issued', { redPacketId: 'rp0' });
  });

  it('refuses an existing id before anything else of the creation, and an expectedVersion it does not hold', () => {
    const existing = { id: 'rp1', orderId: 'o1', accountId: 'a1', amount: 5, status: 'CANCELLED' as const, version: 2 };
    given(orderRows, [o1]).and(accountRows, [a1]).and(redPacketRows, [existing]).when(issueRedPacket, issue).thenRefused('already_exists');
    given(orderRows, [o1])
      .and(accountRows, [a1])
      .when(issueRedPacket, { ...issue, expectedVersion: 3 })
      .thenConflict({ expectedVersion: 3, actualVersion: 0 });
  });

  it('pays: the red packet and the account it names (locked in phase two) change together, with a ledger row and an event', () => {
    given(redPacketRows, [{ id: 'rp1', orderId: 'o1', accountId: 'a1', amount: 88, status: 'CREATED', version: 1 }])
      .and(accountRows, [a1])
      .when(payRedPacket, { entityId: 'rp1', id: 'pay-rp1', clientId: 'shop' })
      .then({ status: 'succeeded', result: { status: 'PAID', version: 2 } })
      .rows(redPacketRows, [{ id: 'rp1', orderId: 'o1', accountId: 'a1', amount: 88, status: 'PAID', version: 2 }])
      .rows(accountRows, [{ ...a1, balance: 188, version: 4 }])
      .appended(ledgerRows, [{ accountId: 'a1', clientId: 'shop', commandId: 'pay-rp1', amount: 88, balanceAfter: 188 }])
      .events([
        { type: 'account.credited', entityId: 'a1', payload: { amount: 88, currency: 'CNY', balance: 188, version: 4 } },
        { type: 'redPacket.paid', entityId: 'rp1', payload: { orderId: 'o1', accountId: 'a1', amount: 88, status: 'PAID', version: 2, balance: 188 } },
      ])
      .nothingElse();
  });

  it('refuses an illegal transition and writes nothing', () => {
    given(redPacketRows, [{ id: 'rp1', orderId: 'o1', accountId: 'a1', amount: 88, status: 'CANCELLED', version: 2 }])
      .when(cancelRedPacket, { entityId: 'rp1' })
      .thenRefused('illegal_transition', { from: 'CANCELLED', to: 'CANCELLED' });
  });
});
