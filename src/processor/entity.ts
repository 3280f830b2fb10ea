import type { Sql } from '../core/command.ts';
import type { Command } from '../core/envelope.ts';
import { notFound, succeeded, versionConflict, type Decision, type Outcome } from '../core/outcome.ts';

export interface Versioned {
  id: string;
  version: number;
}

/** How one kind of entity is locked and saved. `save` must be a versioned UPDATE (see versionedUpdate). */
export interface EntityStore<S extends Versioned> {
  name: string;
  lock(sql: Sql, id: string): Promise<S | null>;
  save(sql: Sql, next: S, previousVersion: number): Promise<number>;
}

/**
 * Load, check the version, decide, save: the shape of every command that changes one existing entity.
 * The row is locked first, so commands without `expectedVersion` apply one after another (no lost update),
 * and commands with one see exactly the version they will overwrite.
 *
 * @example
 * handle: ({ sql, command }) =>
 *   changeEntity(sql, command, accountStore, (account) => credit(account, command.payload.amount), (a) => ({ balance: a.balance, version: a.version }))
 */
export async function changeEntity<S extends Versioned>(
  sql: Sql,
  command: Command,
  store: EntityStore<S>,
  decide: (current: S) => Decision<S> | Promise<Decision<S>>,
  view: (saved: S) => unknown,
  afterSave?: (saved: S, previous: S) => Promise<void>,
): Promise<Outcome> {
  const current = await store.lock(sql, command.entityId);
  if (!current) return notFound(store.name, command.entityId);
  if (command.expectedVersion !== undefined && current.version !== command.expectedVersion) {
    return versionConflict(command.expectedVersion, current.version);
  }
  const decision = await decide(current);
  if (!decision.ok) return decision.outcome;
  const version = await store.save(sql, decision.state, current.version);
  const saved = { ...decision.state, version };
  await afterSave?.(saved, current);
  return succeeded(view(saved));
}

/** For creating commands: with `expectedVersion`, a missing entity counts as version 0. */
export function creationConflict(command: Command, existingVersion: number | null): Outcome | null {
  const actual = existingVersion ?? 0;
  if (command.expectedVersion !== undefined && command.expectedVersion !== actual) {
    return versionConflict(command.expectedVersion, actual);
  }
  return null;
}

/** Reads a bigint column as an exact number, whichever way the driver returned it. */
export function int(value: unknown): number {
  const number = typeof value === 'number' ? value : Number(value);
  if (!Number.isSafeInteger(number)) throw new RangeError(`not an exact integer: ${String(value)}`);
  return number;
}
