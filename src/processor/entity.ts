import type { BatchState } from '../core/command.ts';
import type { Command } from '../core/envelope.ts';
import { notFound, rejected, succeeded, versionConflict, type Decision, type Outcome } from '../core/outcome.ts';
import type { EntityTable, Versioned } from '../core/table.ts';

/** An entity table and the word for one of its rows in refusals ("account acc-1 does not exist"). */
export interface Entity<R extends Versioned> {
  table: EntityTable<R>;
  name: string;
}

/**
 * The locked row a command acts on (its entityId), checked against `expectedVersion`: the row, or the
 * refusal (`not_found`, `version_conflict`) to return.
 *
 * @example
 * const found = target(state, account, command);
 * if (!found.ok) return found.outcome;
 */
export function target<R extends Versioned>(state: BatchState, entity: Entity<R>, command: Command): { ok: true; row: R } | { ok: false; outcome: Outcome } {
  const row = state.get(entity.table, command.entityId);
  if (!row) return { ok: false, outcome: notFound(entity.name, command.entityId) };
  if (command.expectedVersion !== undefined && row.version !== command.expectedVersion) {
    return { ok: false, outcome: versionConflict(command.expectedVersion, row.version) };
  }
  return { ok: true, row };
}

/**
 * Check, decide, save: the shape of every command that changes one existing entity. The decision's own
 * next state is what is written (a versioned UPDATE at the end of the batch).
 *
 * @example
 * decide: (command, state) => changeEntity(state, account, command, (a) => credit(a, command.payload.amount), view)
 */
export function changeEntity<R extends Versioned>(
  state: BatchState,
  entity: Entity<R>,
  command: Command,
  decide: (current: R) => Decision<R>,
  view: (saved: R) => unknown,
  afterSave?: (saved: R, previous: R) => void,
): Outcome {
  const found = target(state, entity, command);
  if (!found.ok) return found.outcome;
  const decision = decide(found.row);
  if (!decision.ok) return decision.outcome;
  const saved = state.update(entity.table, decision.state);
  afterSave?.(saved, found.row);
  return succeeded(view(saved));
}

/**
 * The creation a command makes (its entityId is the new row's id), or the refusal to return: an existing
 * row is `already_exists` (or a `version_conflict` when the command's `expectedVersion` is not its
 * version), then `create` decides the new row's columns or refuses, then an `expectedVersion` other than
 * 0 is a `version_conflict` (a missing row counts as version 0). The row is inserted at version 1; like
 * every write of a decision, it is dropped if the command is refused after all.
 *
 * @example
 * decide(command, state) {
 *   const created = createEntity(state, ticket, command, () => accept({ title: command.payload.title, status: 'OPEN' }));
 *   return created.ok ? succeeded(view(created.row)) : created.outcome;
 * }
 */
export function createEntity<R extends Versioned>(
  state: BatchState,
  entity: Entity<R>,
  command: Command,
  create: () => Decision<Omit<R, 'id' | 'version'>>,
): { ok: true; row: R } | { ok: false; outcome: Outcome } {
  const existing = state.get(entity.table, command.entityId);
  if (existing) {
    const outcome = creationConflict(command, existing.version) ?? rejected('already_exists', `${entity.name} ${command.entityId} already exists`);
    return { ok: false, outcome };
  }
  const decision = create();
  if (!decision.ok) return decision;
  const conflict = creationConflict(command, null);
  if (conflict) return { ok: false, outcome: conflict };
  return { ok: true, row: state.insert(entity.table, { ...decision.state, id: command.entityId } as unknown as Omit<R, 'version'>) };
}

/**
 * For creating commands: with `expectedVersion`, a missing entity counts as version 0. `createEntity`
 * applies it; use it alone for a creation it does not fit.
 *
 * @example
 * return creationConflict(command, existing?.version ?? null) ?? succeeded(view(state.insert(ticketRows, ticket)));
 */
export function creationConflict(command: Command, existingVersion: number | null): Outcome | null {
  const actual = existingVersion ?? 0;
  if (command.expectedVersion !== undefined && command.expectedVersion !== actual) {
    return versionConflict(command.expectedVersion, actual);
  }
  return null;
}

/**
 * Reads a bigint column as an exact number, whichever way the driver returned it.
 *
 * @example
 * const balance = int(row.balance);
 */
export function int(value: unknown): number {
  const number = typeof value === 'number' ? value : Number(value);
  if (!Number.isSafeInteger(number)) throw new RangeError(`not an exact integer: ${String(value)}`);
  return number;
}
