// oncely/testing: a command's plan and decision run over rows held in memory, with the processor's own
// batch state (src/processor/state.ts): what its plan locks is what its decision may read and write, a
// refusal writes nothing, a change bumps the version, a creation starts at version 1. Given rows, when a
// command, then an outcome and the rows it wrote (or a refusal), without a database and without a test
// framework: a failed expectation throws node:assert's AssertionError, which every runner reports.
import assert from 'node:assert/strict';
import type { z } from 'zod';
import { isPlanned, type AnyCommandDefinition, type PlannedDefinition } from '../core/command.ts';
import type { Command } from '../core/envelope.ts';
import type { EventDraft } from '../core/event.ts';
import type { Outcome } from '../core/outcome.ts';
import type { AppendTable, EntityTable, RowKey, Versioned } from '../core/table.ts';
import { stagedWrites, State } from '../processor/state.ts';

export { NotInPlan } from '../processor/state.ts';

/** A command as a test gives it: its entityId and payload (as a client would send it), and optionally the rest of its envelope. */
export interface CommandInput<P> {
  entityId: string;
  /** As sent: parsed by the command's schema (defaults applied), as at submission. Default `{}`. */
  payload?: P;
  expectedVersion?: number;
  /** Default `cmd-1`. */
  id?: string;
  /** Default `anonymous`. */
  clientId?: string;
}

/** What a command wrote, as the batch would write it. */
export interface Writes {
  /** Per entity table (by name): its new and changed rows at their new version, in id order. Tables it did not write are absent. */
  rows: Record<string, Versioned[]>;
  /** Per append-only table (by name): the rows appended, in order. */
  appended: Record<string, unknown[]>;
  /** The events it emitted (kept only when it succeeded). */
  events: EventDraft[];
}

/** A command's outcome and its writes (none unless it succeeded). */
export interface Decided {
  outcome: Outcome;
  writes: Writes;
}

type Rows = ReadonlyMap<string, { table: EntityTable; rows: readonly Versioned[] }>;

/** A row as the processor reads it: the descriptor's columns only, a missing one as null. */
function asRead(table: EntityTable, row: Versioned): Versioned {
  const read: Record<string, unknown> = {};
  for (const property of Object.keys(table.columns)) read[property] = structuredClone((row as unknown as Record<string, unknown>)[property] ?? null);
  return read as unknown as Versioned;
}

function commandOf(definition: AnyCommandDefinition, input: CommandInput<unknown>): Command {
  const parsed = definition.payload.safeParse(input.payload ?? {});
  if (!parsed.success) {
    throw new Error(
      `${definition.type}: the payload does not pass the command's schema: ${parsed.error.issues.map((issue) => `${issue.path.join('.') || '(payload)'} ${issue.message}`).join('; ')}`,
    );
  }
  return {
    clientId: input.clientId ?? 'anonymous',
    id: input.id ?? 'cmd-1',
    type: definition.type,
    entityId: input.entityId,
    expectedVersion: input.expectedVersion,
    payload: parsed.data,
  };
}

/** Locks the plan's rows table by table in lock order, then its phase-two rows, then reads its lookups: the batch's order and its rules. */
function load(definition: PlannedDefinition, command: Command, given: Rows, state: State): void {
  const plan = definition.plan(command);
  const rowsOf = (table: EntityTable) => given.get(table.name)?.rows ?? [];
  const locked = new Map<string, Set<string>>();
  const lock = (keys: readonly RowKey[]) => {
    const byTable = new Map<string, { table: EntityTable; ids: Set<string> }>();
    for (const key of keys) {
      if (locked.get(key.table.name)?.has(key.id)) continue;
      const entry = byTable.get(key.table.name) ?? { table: key.table, ids: new Set<string>() };
      entry.ids.add(key.id);
      byTable.set(key.table.name, entry);
    }
    for (const { table, ids } of [...byTable.values()].sort((a, b) => a.table.lockOrder - b.table.lockOrder)) {
      state.load(
        table,
        rowsOf(table)
          .filter((row) => ids.has(row.id))
          .map((row) => asRead(table, row)),
        [...ids],
        true,
      );
      const done = locked.get(table.name) ?? new Set<string>();
      for (const id of ids) done.add(id);
      locked.set(table.name, done);
    }
  };
  const orders = new Map<number, string>();
  for (const { table } of plan.lock) {
    const holder = orders.get(table.lockOrder);
    if (holder !== undefined && holder !== table.name)
      throw new Error(`${command.type}: ${holder} and ${table.name} share lockOrder ${table.lockOrder}: each table needs its own`);
    orders.set(table.lockOrder, table.name);
  }
  lock(plan.lock);
  if (plan.then) {
    // Phase two runs once every table of phase one is locked: its keys must lie in later tables.
    const after = Math.max(...plan.lock.map((key) => key.table.lockOrder));
    const keys = plan.then(state);
    for (const key of keys) {
      if (!locked.get(key.table.name)?.has(key.id) && key.table.lockOrder <= after) {
        throw new Error(`${command.type}: phase-two key in ${key.table.name} breaks the lock order (it must come after lockOrder ${after})`);
      }
    }
    lock(keys);
  }
  for (const lookup of plan.lookups ?? []) {
    const found = rowsOf(lookup.table).filter((row) => (row as unknown as Record<string, unknown>)[lookup.property] === lookup.value);
    state.load(
      lookup.table,
      found.map((row) => asRead(lookup.table, row)),
      [],
      false,
    );
  }
}

function decide(definition: AnyCommandDefinition, input: CommandInput<unknown>, given: Rows): Decided {
  if (!isPlanned(definition)) throw new Error(`${definition.type} is applied by its own handler and SQL: test it against a database`);
  const command = commandOf(definition, input);
  const state = new State();
  load(definition, command, given, state);
  state.begin();
  let outcome: Outcome;
  try {
    outcome = definition.decide(command, state);
  } catch (err) {
    state.rollback();
    throw err;
  }
  if (outcome.status === 'succeeded') state.commit(command);
  else state.rollback();
  const staged = stagedWrites(state);
  const rows: Record<string, Versioned[]> = {};
  for (const { table, created, changed } of staged.tables) {
    const written = [...created, ...changed.map((change) => change.row)].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    if (written.length > 0) rows[table.name] = written;
  }
  const appended: Record<string, unknown[]> = {};
  for (const { table, rows: added } of staged.appends) if (added.length > 0) appended[table.name] = [...added];
  const events = staged.events.map(({ type, entityId, payload }) => ({ type, entityId, payload }));
  return { outcome, writes: { rows, appended, events } };
}

function rowsByTable(entries: readonly (readonly [EntityTable, readonly Versioned[]])[]): Rows {
  const given = new Map<string, { table: EntityTable; rows: Versioned[] }>();
  for (const [table, rows] of entries) {
    if ((table as { kind: string }).kind !== 'entity') throw new Error(`given(${table.name}): only entity tables hold rows to read; append-only tables are only written`);
    const entry = given.get(table.name) ?? { table, rows: [] };
    for (const row of rows) {
      if (typeof row.id !== 'string' || !Number.isSafeInteger(row.version) || row.version < 1) {
        throw new Error(`given(${table.name}): every row needs a string id and a version of at least 1, not ${JSON.stringify(row)}`);
      }
      if (entry.rows.some((other) => other.id === row.id)) throw new Error(`given(${table.name}): row ${row.id} is given twice`);
      entry.rows.push(row);
    }
    given.set(table.name, entry);
  }
  return given;
}

/**
 * Runs a planned command over rows held in memory, exactly as a batch would: its plan's rows locked (a
 * row it did not name cannot be read), its decision, and what it wrote. Throws what the decision throws.
 *
 * @example
 * const { outcome, writes } = decideInMemory(creditAccount, { entityId: 'a1', payload: { amount: 5 } }, [[accountRows, [{ id: 'a1', currency: 'CNY', balance: 0, version: 1 }]]]);
 */
export function decideInMemory<S extends z.ZodType>(
  definition: PlannedDefinition<z.output<S>> & { readonly payload: S },
  input: CommandInput<z.input<S>>,
  given: readonly (readonly [table: Pick<EntityTable, 'kind' | 'name'>, rows: readonly object[]])[] = [],
): Decided {
  return decide(definition, input, rowsByTable(given as unknown as (readonly [EntityTable, readonly Versioned[]])[]));
}

/** Expectations on what a succeeded command wrote; each returns the same object, to chain. */
export interface Written {
  /** The outcome and writes, for checks of your own. */
  readonly decided: Decided;
  /** The rows the command wrote to `table` (new and changed, at their new version, in id order), exactly. */
  rows<R extends Versioned>(table: EntityTable<R>, expected: readonly R[]): Written;
  /** The rows appended to `table`, in order, exactly. */
  appended<R>(table: AppendTable<R>, expected: readonly R[]): Written;
  /** The events emitted (type, entityId, payload), in order, exactly. */
  events(expected: readonly EventDraft[]): Written;
  /** That the command wrote to no table other than those checked with rows() and appended() so far. */
  nothingElse(): Written;
}

/** A command run over the given rows, waiting for what to expect. */
export interface When {
  /** The outcome, exactly (`{ status: 'succeeded', result }`); then what it wrote. */
  then(expected: Outcome): Written;
  /** A `rejected` outcome with this code (and these details, when given), and nothing written. */
  thenRefused(code: string, details?: Record<string, unknown>): void;
  /** A `conflict` outcome (the command's `expectedVersion` was not the row's), and nothing written. */
  thenConflict(details?: { expectedVersion: number; actualVersion: number }): void;
  /** That deciding threw: a bug, or a plan that does not name what the decision reads (`NotInPlan`). */
  thenThrows(expected: RegExp | (new (...args: never[]) => Error)): void;
}

/** Rows of the world before the command; add tables with `and`, then run a command with `when`. */
export interface Given {
  and<R extends Versioned>(table: EntityTable<R>, rows: readonly R[]): Given;
  when<S extends z.ZodType>(definition: PlannedDefinition<z.output<S>> & { readonly payload: S }, input: CommandInput<z.input<S>>): When;
}

function written(decided: Decided): Written {
  const checked = new Set<string>();
  const self: Written = {
    decided,
    rows(table, expected) {
      checked.add(table.name);
      assert.deepStrictEqual(decided.writes.rows[table.name] ?? [], [...expected], `rows written to ${table.name}`);
      return self;
    },
    appended(table, expected) {
      checked.add(table.name);
      assert.deepStrictEqual(decided.writes.appended[table.name] ?? [], [...expected], `rows appended to ${table.name}`);
      return self;
    },
    events(expected) {
      assert.deepStrictEqual(decided.writes.events, [...expected], 'events emitted');
      return self;
    },
    nothingElse() {
      const others = [...Object.keys(decided.writes.rows), ...Object.keys(decided.writes.appended)].filter((name) => !checked.has(name));
      assert.deepStrictEqual(others, [], 'tables written besides those checked');
      return self;
    },
  };
  return self;
}

const NOTHING: Writes = { rows: {}, appended: {}, events: [] };

function when(run: () => Decided): When {
  let decided: Decided | undefined;
  let thrown: { error: unknown } | undefined;
  try {
    decided = run();
  } catch (error) {
    thrown = { error };
  }
  const result = (): Decided => {
    if (thrown) throw thrown.error;
    return decided!;
  };
  return {
    then(expected) {
      // Awaiting this object would call then(resolve, reject): say so instead of comparing functions.
      if (typeof expected === 'function') throw new TypeError('given(...).when(...) is not a promise: call .then(expectedOutcome) without await');
      const got = result();
      assert.deepStrictEqual(got.outcome, expected, 'outcome');
      return written(got);
    },
    thenRefused(code, details) {
      const got = result();
      assert.equal(got.outcome.status, 'rejected', `expected a refusal, got ${JSON.stringify(got.outcome)}`);
      if (got.outcome.status === 'rejected') {
        assert.equal(got.outcome.error.code, code, `refusal code (${got.outcome.error.message})`);
        if (details !== undefined) assert.deepStrictEqual(got.outcome.error.details, details, 'refusal details');
      }
      assert.deepStrictEqual(got.writes, NOTHING, 'a refusal writes nothing');
    },
    thenConflict(details) {
      const got = result();
      assert.equal(got.outcome.status, 'conflict', `expected a conflict, got ${JSON.stringify(got.outcome)}`);
      if (details !== undefined && got.outcome.status === 'conflict') assert.deepStrictEqual(got.outcome.error.details, details, 'conflict details');
      assert.deepStrictEqual(got.writes, NOTHING, 'a conflict writes nothing');
    },
    thenThrows(expected) {
      assert.ok(thrown, `expected deciding to throw, got ${JSON.stringify(decided?.outcome)}`);
      if (expected instanceof RegExp) assert.match(String((thrown.error as Error).message ?? thrown.error), expected);
      else assert.ok(thrown.error instanceof expected, `expected a ${expected.name}, got ${String(thrown.error)}`);
    },
  };
}

/**
 * Given rows, when a command, then an outcome and the rows it wrote, or a refusal: a planned command's
 * real plan and decision over rows in memory, with the processor's semantics (locks, lookups, a version
 * bump per change, inserts at version 1, appends, events; a refusal writes nothing). No database, no test
 * framework: a failed expectation throws node:assert's AssertionError.
 *
 * @example
 * given(accountRows, [{ id: 'a1', currency: 'CNY', balance: 100, version: 1 }])
 *   .when(debitAccount, { entityId: 'a1', payload: { amount: 30 } })
 *   .then({ status: 'succeeded', result: { balance: 70, version: 2 } })
 *   .rows(accountRows, [{ id: 'a1', currency: 'CNY', balance: 70, version: 2 }]);
 *
 * given(accountRows, [{ id: 'a1', currency: 'CNY', balance: 10, version: 1 }])
 *   .when(debitAccount, { entityId: 'a1', payload: { amount: 30 } })
 *   .thenRefused('insufficient_funds');
 */
export function given<R extends Versioned>(table?: EntityTable<R>, rows: readonly R[] = []): Given {
  const entries: (readonly [EntityTable, readonly Versioned[]])[] = table ? [[table, rows]] : [];
  const self: Given = {
    and(next, more) {
      entries.push([next, more]);
      return self;
    },
    when(definition, input) {
      return when(() => decide(definition, input, rowsByTable(entries)));
    },
  };
  return self;
}
