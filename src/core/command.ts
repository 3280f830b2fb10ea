import type { z } from 'zod';
import type { Command } from './envelope.ts';
import type { EventDraft } from './event.ts';
import type { Outcome } from './outcome.ts';
import type { AppendTable, EntityTable, Lookup, RowKey, Versioned } from './table.ts';

/** The least a command handler needs from the database: parameterised SQL inside the command's transaction. */
export interface Sql {
  query<R = Record<string, unknown>>(text: string, values?: readonly unknown[]): Promise<{ rows: R[]; rowCount: number | null }>;
}

export interface CommandContext<P> {
  /** Runs inside the one transaction that also dedupes the command and records its outcome. */
  sql: Sql;
  command: Command<P>;
  /** Stages an event, stored with the effect if the handler succeeds (docs/outbox.md); a refusal drops it. */
  emit(event: EventDraft): void;
}

/** The rows a batch has locked, as the commands before this one in the batch left them. */
export interface ReadState {
  get<R extends Versioned>(table: EntityTable<R>, id: string): R | undefined;
  /** Loaded rows of `table` (locked, or read through a lookup) that match. */
  find<R extends Versioned>(table: EntityTable<R>, where: (row: R) => boolean): R[];
}

/** What a decision may do: read, and stage writes that are kept only if it succeeds. */
export interface BatchState extends ReadState {
  /** A new row at version 1; its id must have been named in the command's plan. */
  insert<R extends Versioned>(table: EntityTable<R>, row: Omit<R, 'version'>): R;
  /** The next state of a locked row, given at the version it was read at; returns it at the next version. */
  update<R extends Versioned>(table: EntityTable<R>, row: R): R;
  append<R>(table: AppendTable<R>, row: R): void;
  /** Stages an event about a row this batch locked, kept only if the decision succeeds (docs/outbox.md). */
  emit(event: EventDraft): void;
}

/**
 * What a command locks, declared before it runs, so a batch can lock every row of every command in one
 * global order (see src/processor/batch.ts): rows in `lock` (phase one), then rows named by those rows
 * (`then`, phase two: only tables later in the lock order), then unlocked `lookups`.
 */
export interface LockPlan {
  lock: readonly RowKey[];
  then?: (state: ReadState) => readonly RowKey[];
  lookups?: readonly Lookup[];
}

interface DefinitionBase<P> {
  type: string;
  /** Validates the payload at submission; unknown keys are an error. */
  payload: z.ZodType<P>;
  summary: string;
}

/**
 * A command applied set-based: a lock plan and a pure, synchronous decision over the locked rows. Many of
 * them share one batch, one statement per table and one commit. Return refusals as outcomes; throw only
 * for bugs (the batch then retries that command alone).
 */
export interface PlannedDefinition<P = unknown> extends DefinitionBase<P> {
  plan(command: Command<P>): LockPlan;
  decide(command: Command<P>, state: BatchState): Outcome;
}

/**
 * A command applied by its own code and SQL, one at a time under a savepoint (users' imperative handlers).
 * It gets no deadlock-freedom from the processor: it must lock in the global order itself.
 */
export interface HandlerDefinition<P = unknown> extends DefinitionBase<P> {
  /** Applies the command. Return refusals as outcomes; throw only for infrastructure failures and bugs. */
  handle(ctx: CommandContext<P>): Promise<Outcome>;
}

export type CommandDefinition<P = unknown> = PlannedDefinition<P> | HandlerDefinition<P>;

export function isPlanned<P>(definition: CommandDefinition<P>): definition is PlannedDefinition<P> {
  return 'decide' in definition;
}

/**
 * Defines a command type: its name, payload schema, and either a lock plan with a pure decision
 * (set-based, preferred) or an imperative handler.
 *
 * @example
 * const credit = defineCommand({
 *   type: 'account.credit',
 *   summary: 'Add money to an account',
 *   payload: z.strictObject({ amount: Amount }),
 *   plan: (command) => ({ lock: [rowKey(accounts, command.entityId)] }),
 *   decide: (command, state) => changeEntity(state, { table: accounts, name: 'account' }, command, (a) => credit(a, command.payload.amount), view),
 * });
 */
// `T` keeps the literal type name, so a typed client can map each type to its payload (CommandMapOf).
export function defineCommand<S extends z.ZodType, const T extends string = string>(
  definition: DefinitionBase<z.output<S>> & {
    type: T;
    payload: S;
    plan(command: Command<z.output<S>>): LockPlan;
    decide(command: Command<z.output<S>>, state: BatchState): Outcome;
  },
): PlannedDefinition<z.output<S>> & { readonly type: T; readonly payload: S };
export function defineCommand<S extends z.ZodType, const T extends string = string>(
  definition: DefinitionBase<z.output<S>> & { type: T; payload: S; handle(ctx: CommandContext<z.output<S>>): Promise<Outcome> },
): HandlerDefinition<z.output<S>> & { readonly type: T; readonly payload: S };
export function defineCommand(definition: CommandDefinition): CommandDefinition {
  return definition;
}

// Handlers are contravariant in their payload, so a registry holds them at this erased type.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnyCommandDefinition = CommandDefinition<any>;
