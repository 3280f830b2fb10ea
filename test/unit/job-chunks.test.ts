// Commands submitted together are split into jobs (src/queue/boss.ts) without splitting one entity's
// commands across two jobs, which could run at once on different workers and apply them out of order.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { chunksByEntity } from '../../src/queue/boss.ts';

describe('chunksByEntity', () => {
  it('keeps each entity in one chunk, in the order given, and chunks small unless one entity is larger', () => {
    fc.assert(
      fc.property(fc.array(fc.constantFrom('a', 'b', 'c', 'd', 'e', 'f', 'g'), { maxLength: 200 }), fc.integer({ min: 1, max: 60 }), (entities, size) => {
        const refs = entities.map((entityId, i) => ({ entityId, id: `c${i}` }));
        const chunks = chunksByEntity(refs, size);
        expect(chunks.flat().toSorted((a, b) => Number(a.id.slice(1)) - Number(b.id.slice(1)))).toEqual(refs);
        for (const entity of new Set(entities)) {
          const holding = chunks.filter((chunk) => chunk.some((ref) => ref.entityId === entity));
          expect(holding).toHaveLength(1);
          expect(holding[0]!.filter((ref) => ref.entityId === entity)).toEqual(refs.filter((ref) => ref.entityId === entity));
        }
        for (const chunk of chunks) {
          expect(chunk.length).toBeGreaterThan(0);
          if (chunk.length > size) expect(new Set(chunk.map((ref) => ref.entityId)).size).toBe(1);
        }
      }),
    );
  });

  it('splits 120 commands on 120 entities into jobs of 50', () => {
    const refs = Array.from({ length: 120 }, (_, i) => ({ entityId: `e${i}`, id: `c${i}` }));
    expect(chunksByEntity(refs, 50).map((chunk) => chunk.length)).toEqual([50, 50, 20]);
  });
});
