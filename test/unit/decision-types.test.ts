// Decisions type without annotations: a refusal is a Decision<never>, so `refuse(...)` fits any decision
// (changeEntity's callback, a ternary with accept) instead of inferring Decision<unknown> and failing with
// a long error. These are compile-time checks (npm run typecheck compiles test/), run here too.
import { integer, pgTable, text } from 'drizzle-orm/pg-core';
import { describe, expect, expectTypeOf, it } from 'vitest';
import { z } from 'zod';
import {
  accept,
  changeEntity,
  createEntity,
  defineCommand,
  entityTable,
  refuse,
  rowKey,
  succeeded,
  type BatchState,
  type Command,
  type Decision,
  type Outcome,
  type RowOf,
} from '../../src/index.ts';
import { given } from '../../src/testing/index.ts';

const cards = pgTable('cards', {
  id: text('id').primaryKey(),
  balance: integer('balance').notNull(),
  status: text('status').$type<'ACTIVE' | 'VOID'>().notNull(),
  version: integer('version').notNull(),
});
const cardRows = entityTable(cards, { lockOrder: 40 });
type Card = RowOf<typeof cardRows>;
const card = { table: cardRows, name: 'card' };
const view = (saved: Card) => ({ balance: saved.balance, version: saved.version });

// No annotation anywhere: refuse's type fits the accept beside it.
const spend = defineCommand({
  type: 'card.spend',
  summary: 'Spends from a card.',
  payload: z.strictObject({ amount: z.number().int().min(1) }),
  plan: (command) => ({ lock: [rowKey(cardRows, command.entityId)] }),
  decide: (command, state) =>
    changeEntity(
      state,
      card,
      command,
      (current) =>
        current.balance < command.payload.amount ? refuse('too_little', 'not enough') : accept({ ...current, balance: current.balance - command.payload.amount }),
      view,
    ),
});

function decideVoid(current: Card) {
  if (current.status === 'VOID') return refuse('illegal_transition', `${current.id} is VOID`);
  return accept({ ...current, status: 'VOID' as const });
}

describe('decision types', () => {
  it('types a refusal as Decision<never>, assignable to every decision', () => {
    expectTypeOf(refuse('x', 'y')).toEqualTypeOf<Decision<never>>();
    expectTypeOf(refuse('x', 'y')).toMatchTypeOf<Decision<Card>>();
    expectTypeOf(decideVoid).returns.toMatchTypeOf<Decision<Card>>();
    expectTypeOf(accept({ a: 1 })).toEqualTypeOf<Decision<{ a: number }>>();
    expectTypeOf<Card>().toEqualTypeOf<{ id: string; balance: number; status: 'ACTIVE' | 'VOID'; version: number }>();
    const change = (state: BatchState, command: Command): Outcome => changeEntity(state, card, command, decideVoid, view);
    const open = (state: BatchState, command: Command) =>
      createEntity(state, card, command, () => (command.entityId === 'x' ? refuse('no', 'no') : accept({ balance: 0, status: 'ACTIVE' })));
    expectTypeOf(change).returns.toEqualTypeOf<Outcome>();
    expectTypeOf(open).returns.toEqualTypeOf<{ ok: true; row: Card } | { ok: false; outcome: Outcome }>();
    // A decision of the wrong shape is still caught (compiled, never called).
    const wrong = (state: BatchState, command: Command) =>
      // @ts-expect-error -- balance must be a number
      changeEntity(state, card, command, (current) => accept({ ...current, balance: 'ten' }), view);
    expectTypeOf(wrong).toBeFunction();
  });

  it('runs the unannotated decision as written', () => {
    const c1 = { id: 'c1', balance: 5, status: 'ACTIVE' as const, version: 1 };
    given(cardRows, [c1])
      .when(spend, { entityId: 'c1', payload: { amount: 6 } })
      .thenRefused('too_little');
    const written = given(cardRows, [c1])
      .when(spend, { entityId: 'c1', payload: { amount: 5 } })
      .then(succeeded({ balance: 0, version: 2 }));
    expect(written.decided.writes.rows).toEqual({ cards: [{ ...c1, balance: 0, version: 2 }] });
  });
});
