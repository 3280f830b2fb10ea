import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { canonicalJson, fingerprint } from '../../src/core/fingerprint.ts';

const request = { type: 'account.credit', entityId: 'a-1', expectedVersion: undefined, payload: { amount: 5 } };

describe('fingerprint', () => {
  it('is the SHA-256 of the canonical JSON with sorted keys', () => {
    expect(canonicalJson({ b: 1, a: [{ d: 2, c: 3 }] })).toBe('{"a":[{"c":3,"d":2}],"b":1}');
    expect(fingerprint(request)).toMatch(/^[0-9a-f]{64}$/);
  });

  it('ignores key order at every depth', () => {
    fc.assert(
      fc.property(fc.dictionary(fc.string(), fc.jsonValue()), (payload) => {
        const reversed = Object.fromEntries(Object.entries(payload).reverse());
        expect(fingerprint({ ...request, payload: reversed })).toBe(fingerprint({ ...request, payload }));
      }),
    );
  });

  it('changes with the type, the entity, the expected version and the payload', () => {
    const base = fingerprint(request);
    expect(fingerprint({ ...request, type: 'account.debit' })).not.toBe(base);
    expect(fingerprint({ ...request, entityId: 'a-2' })).not.toBe(base);
    expect(fingerprint({ ...request, expectedVersion: 1 })).not.toBe(base);
    expect(fingerprint({ ...request, payload: { amount: 6 } })).not.toBe(base);
  });
});
