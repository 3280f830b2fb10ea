// The stock commands as given/when/then, without a database: each command's real plan and decision over
// rows held in memory (oncely/testing), with the processor's rules (a row its plan does not lock cannot be
// read, a change bumps the version, a refusal writes nothing).
import { describe, it } from 'node:test';
import { given } from 'oncely/testing';
import { orderRows, release, reservationRows, reserve, receive, stockRows } from '../src/domain.ts';

const apple = { id: 'apple', onHand: 10, reserved: 3, version: 2 };
const placed = { id: 'o1', sku: 'apple', quantity: 3, status: 'PLACED' as const, version: 1 };

describe('stock.receive', () => {
  it('creates the stock item on its first delivery', () => {
    given(stockRows, [])
      .when(receive, { entityId: 'pear', payload: { quantity: 4 } })
      .then({ status: 'succeeded', result: { onHand: 4, reserved: 0, version: 1 } })
      .rows(stockRows, [{ id: 'pear', onHand: 4, reserved: 0, version: 1 }])
      .nothingElse();
  });

  it('adds to an existing one', () => {
    given(stockRows, [apple])
      .when(receive, { entityId: 'apple', payload: { quantity: 5 } })
      .then({ status: 'succeeded', result: { onHand: 15, reserved: 3, version: 3 } })
      .rows(stockRows, [{ ...apple, onHand: 15, version: 3 }]);
  });
});

describe('stock.reserve', () => {
  const request = { entityId: 'res-o2', payload: { orderId: 'o2', sku: 'apple', quantity: 7 } };
  const o2 = { ...placed, id: 'o2', quantity: 7 };

  it('reserves what is available: the reservation and the stock item change together', () => {
    given(stockRows, [apple])
      .and(orderRows, [o2])
      .when(reserve, request)
      .then({ status: 'succeeded', result: { status: 'RESERVED', version: 1 } })
      .rows(reservationRows, [{ id: 'res-o2', orderId: 'o2', sku: 'apple', quantity: 7, status: 'RESERVED', version: 1 }])
      .rows(stockRows, [{ ...apple, reserved: 10, version: 3 }])
      .nothingElse();
  });

  it('refuses when stock is short, writing nothing', () => {
    given(stockRows, [{ ...apple, reserved: 4 }])
      .and(orderRows, [o2])
      .when(reserve, request)
      .thenRefused('insufficient_stock', { available: 6, requested: 7 });
  });

  it('holds one live reservation per order (found by its lookup), and refuses an existing id', () => {
    const live = { id: 'res-o2-a', orderId: 'o2', sku: 'apple', quantity: 1, status: 'RESERVED' as const, version: 1 };
    given(stockRows, [apple]).and(orderRows, [o2]).and(reservationRows, [live]).when(reserve, request).thenRefused('already_reserved', { reservationId: 'res-o2-a' });
    given(stockRows, [apple])
      .and(orderRows, [o2])
      .and(reservationRows, [{ ...live, id: 'res-o2', status: 'RELEASED' }])
      .when(reserve, request)
      .thenRefused('already_exists');
  });

  it('refuses an order that is not placed, or missing', () => {
    given(stockRows, [apple])
      .and(orderRows, [{ ...o2, status: 'CANCELLED' }])
      .when(reserve, request)
      .thenRefused('order_not_placed');
    given(stockRows, [apple]).when(reserve, request).thenRefused('not_found');
  });
});

describe('stock.release', () => {
  const held = { id: 'res-o1', orderId: 'o1', sku: 'apple', quantity: 3, status: 'RESERVED' as const, version: 1 };

  it('gives the units back to the stock item its reservation names (locked in phase two)', () => {
    given(reservationRows, [held])
      .and(stockRows, [apple])
      .when(release, { entityId: 'res-o1' })
      .then({ status: 'succeeded', result: { status: 'RELEASED', version: 2 } })
      .rows(reservationRows, [{ ...held, status: 'RELEASED', version: 2 }])
      .rows(stockRows, [{ ...apple, reserved: 0, version: 3 }]);
  });

  it('refuses to release twice, and a stale expectedVersion', () => {
    given(reservationRows, [{ ...held, status: 'RELEASED', version: 2 }])
      .and(stockRows, [apple])
      .when(release, { entityId: 'res-o1' })
      .thenRefused('illegal_transition', { from: 'RELEASED', to: 'RELEASED' });
    given(reservationRows, [held])
      .and(stockRows, [apple])
      .when(release, { entityId: 'res-o1', expectedVersion: 4 })
      .thenConflict({ expectedVersion: 4, actualVersion: 1 });
  });
});
