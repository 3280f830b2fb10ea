// The submission routes are checked once, by the intake (src/processor/intake.ts), not also by their
// declaration in /openapi.json (src/http/resource.ts `serveChecked`). That is only right while the intake
// accepts nothing the declaration refuses: whatever envelope and headers come in, an envelope the intake
// takes is one the document's schema takes too. (The intake refuses more: depth, text jsonb cannot hold,
// an id in neither place, ids or versions that disagree; those refusals are pinned by http-refusals.)
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createDefaultRegistry } from '../../src/domains/index.ts';
import { batchRequestSchema, submitBodySchema, SubmitHeaders } from '../../src/http/schemas.ts';
import { checkIntake } from '../../src/processor/intake.ts';

const registry = createDefaultRegistry();
const declared = submitBodySchema(registry);
const declaredBatch = batchRequestSchema(declared);

/** Mostly the valid value, sometimes anything. */
const usually = <T>(valid: fc.Arbitrary<T>, other: fc.Arbitrary<T>): fc.Arbitrary<T> => fc.oneof({ weight: 5, arbitrary: valid }, { weight: 1, arbitrary: other });

const oddChar = fc.oneof(
  { weight: 6, arbitrary: fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }) },
  { weight: 1, arbitrary: fc.constantFrom('\uD800', '\u0000', '"', '\\', ' ', '..') },
);
const oddString = fc.string({ unit: oddChar, maxLength: 20 });
const validId = fc.stringMatching(/^[A-Za-z0-9._:-]{1,24}$/);
const anyId = fc.oneof(validId, oddString, fc.constantFrom('', 'x'.repeat(128), 'x'.repeat(129)));
const json = fc.jsonValue({ maxDepth: 3 });
const amount = usually<unknown>(fc.integer({ min: 1, max: 1e12 }), fc.oneof(fc.integer(), fc.double(), fc.constantFrom(0, 1.5, 2 ** 53, 1e12 + 1), json));
const version = usually<unknown>(fc.nat({ max: 5 }), fc.oneof(fc.constantFrom(-1, 1.5, 2_147_483_647, 2_147_483_648), json));

/** Payloads of the registered types (each right for some type, wrong for the others), off by a field, or anything. */
const payload = fc.oneof(
  fc.constantFrom({}, { currency: 'USD' }, { currency: 'usd' }, { currency: 'EUR', extra: 1 }),
  fc.record({ amount }, { requiredKeys: [] }),
  fc.record({ to: usually(validId, anyId), amount }, { requiredKeys: [] }),
  fc.record({ accountId: usually(validId, anyId), amount }, { requiredKeys: [] }),
  fc.record({ orderId: usually(validId, anyId), accountId: usually(validId, anyId), amount }, { requiredKeys: [] }),
  fc.dictionary(oddString, json, { maxKeys: 3 }),
  json,
);

/** Envelopes whose every field is usually valid: some accepted, the rest refused for one or two reasons. */
const envelope = fc
  .record(
    {
      id: usually<unknown>(validId, fc.oneof(anyId, json)),
      type: usually<unknown>(fc.constantFrom(...registry.types), fc.oneof(oddString, json)),
      entityId: usually<unknown>(validId, fc.oneof(anyId, json)),
      expectedVersion: version,
      payload,
    },
    { requiredKeys: ['type', 'entityId'] },
  )
  .chain((fields) =>
    usually<Record<string, unknown>>(
      fc.constant(fields),
      json.map((extra) => ({ ...fields, extra })),
    ),
  );
const body = fc.oneof({ weight: 8, arbitrary: envelope }, { weight: 1, arbitrary: json });
const headers = fc.record(
  {
    'Idempotency-Key': usually(validId, anyId),
    'If-Match': usually(
      fc.nat({ max: 5 }).map((n) => `"${n}"`),
      fc.oneof(fc.constantFrom('W/"2"', '*', '"1", "2"', 'junk'), oddString),
    ),
    Prefer: fc.constantFrom('wait=1', 'junk'),
  },
  { requiredKeys: [] },
);

describe('the submission declaration and the intake', () => {
  it('the declaration accepts every envelope and headers the intake accepts', () => {
    let taken = 0;
    fc.assert(
      fc.property(body, headers, (raw, given) => {
        const intake = checkIntake(raw, registry, { key: given['Idempotency-Key'], ifMatch: given['If-Match'] });
        if (!intake.ok) return;
        taken++;
        expect(declared.safeParse(raw).success).toBe(true);
        expect(SubmitHeaders.safeParse(given).success).toBe(true);
      }),
      { numRuns: 20_000 },
    );
    // Not vacuous: some hundreds of the generated requests are accepted.
    expect(taken).toBeGreaterThan(100);
  });

  it('the batch declaration accepts every list of envelopes the intake accepts one by one', () => {
    fc.assert(
      fc.property(fc.array(envelope, { minLength: 1, maxLength: 5 }), (list) => {
        if (!list.every((item) => checkIntake(item, registry).ok)) return;
        expect(declaredBatch.safeParse({ commands: list }).success).toBe(true);
      }),
      { numRuns: 2000 },
    );
  });
});
