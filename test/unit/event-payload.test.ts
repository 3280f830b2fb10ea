// An emitted payload is copied as structuredClone copies it (so a decision reusing its object cannot change
// what is stored), and an event's id is the same hash of its command and position as ever.
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { copyPayload, eventId } from '../../src/core/event.ts';

class Money {
  readonly amount: number;
  constructor(amount: number) {
    this.amount = amount;
  }
}

describe('event payloads', () => {
  it('copies like structuredClone', () => {
    const shared = { k: 1 };
    const cyclic: Record<string, unknown> = { name: 'loop' };
    cyclic.self = cyclic;
    // eslint-disable-next-line no-sparse-arrays -- a hole, which structuredClone keeps
    const sparse = [1, , 3];
    let deep: unknown = ['deep'];
    for (let i = 0; i < 40; i++) deep = [deep];
    const values: unknown[] = [
      {},
      { amount: 5, currency: 'CNY', balance: 9007199254740991, version: 2 },
      { list: [1, 'two', null, undefined, { three: [3] }], flag: true, big: 10n, missing: undefined },
      { at: new Date('2026-01-02T03:04:05.678Z'), map: new Map([['a', 1]]), money: new Money(5), sparse },
      { a: shared, b: shared },
      Object.assign(Object.create(null) as object, { x: 1 }),
      JSON.parse('{"__proto__": {"polluted": true}, "y": 2}'),
      cyclic,
      deep,
      'text',
      7,
      null,
    ];
    for (const value of values) {
      const copy = copyPayload(value);
      expect(copy).toStrictEqual(structuredClone(value));
      if (typeof value === 'object' && value !== null) expect(copy).not.toBe(value);
    }
  });

  it('is a copy: changing the emitted object afterwards changes nothing', () => {
    const payload = { amount: 5, nested: { list: [1, 2] } };
    const copy = copyPayload(payload);
    payload.amount = 6;
    payload.nested.list.push(3);
    expect(copy).toEqual({ amount: 5, nested: { list: [1, 2] } });
  });

  it('refuses what structuredClone refuses', () => {
    expect(() => copyPayload({ f: () => 1 })).toThrow(/could not be cloned/);
    expect(() => copyPayload({ s: Symbol('s') })).toThrow(/could not be cloned/);
  });

  it('names events by the sha256 of their command and position', () => {
    const expected = 'evt_' + createHash('sha256').update('anonymous\u0000transfer-1\u00000').digest('hex').slice(0, 32);
    expect(eventId('anonymous', 'transfer-1', 0)).toBe(expected);
  });
});
