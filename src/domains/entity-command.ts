// The shape orders and red packets share: a command on a row that already exists, named by its entityId and
// carrying nothing else (pay, ship, complete, cancel). Finding the row and checking `expectedVersion` is
// written once here; what each command decides stays in its domain.
import { z } from 'zod';
import { defineCommand, type BatchState, type LockPlan } from '../core/command.ts';
import type { Command } from '../core/envelope.ts';
import type { Outcome } from '../core/outcome.ts';
import type { Versioned } from '../core/table.ts';
import { target, type Entity } from '../processor/entity.ts';

/**
 * Defines a command without payload on an existing row of `entity`: `act` gets that row, locked and at the
 * version the command expects; a missing row is refused with `not_found`, another version with
 * `version_conflict`, before `act` runs.
 *
 * @example
 * export const shipOrder = defineEntityCommand(order, {
 *   type: 'order.ship',
 *   summary: 'PAID -> DELIVERED.',
 *   plan: (command) => ({ lock: [rowKey(orderRows, command.entityId)] }),
 *   act(current, command, state) {
 *     const decision = decideOrder(current, 'ship');
 *     return decision.ok ? succeeded(view(state.update(orderRows, decision.state))) : decision.outcome;
 *   },
 * });
 */
export function defineEntityCommand<R extends Versioned, const T extends string>(
  entity: Entity<R>,
  definition: {
    type: T;
    summary: string;
    plan: (command: Command) => LockPlan;
    act: (current: R, command: Command, state: BatchState) => Outcome;
  },
) {
  const { act, ...rest } = definition;
  return defineCommand({
    ...rest,
    payload: z.strictObject({}),
    decide(command, state) {
      const found = target(state, entity, command);
      return found.ok ? act(found.row, command, state) : found.outcome;
    },
  });
}
