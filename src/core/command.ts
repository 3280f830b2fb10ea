import type { z } from 'zod';
import type { Command } from './envelope.ts';
import type { Outcome } from './outcome.ts';

/** The least a command handler needs from the database: parameterised SQL inside the command's transaction. */
export interface Sql {
  query<R = Record<string, unknown>>(text: string, values?: readonly unknown[]): Promise<{ rows: R[]; rowCount: number | null }>;
}

export interface CommandContext<P> {
  /** Runs inside the one transaction that also dedupes the command and records its outcome. */
  sql: Sql;
  command: Command<P>;
}

export interface CommandDefinition<P = unknown> {
  type: string;
  /** Validates the payload at submission; unknown keys are an error. */
  payload: z.ZodType<P>;
  summary: string;
  /** Applies the command. Return refusals as outcomes; throw only for infrastructure failures and bugs. */
  handle(ctx: CommandContext<P>): Promise<Outcome>;
}

/**
 * Defines a command type: its name, payload schema and handler.
 *
 * @example
 * const credit = defineCommand({
 *   type: 'account.credit',
 *   summary: 'Add money to an account',
 *   payload: z.strictObject({ amount: Amount }),
 *   handle: ({ sql, command }) => changeAccount(sql, command, (a) => accept({ ...a, balance: a.balance + command.payload.amount })),
 * });
 */
export function defineCommand<S extends z.ZodType>(definition: {
  type: string;
  summary: string;
  payload: S;
  handle(ctx: CommandContext<z.output<S>>): Promise<Outcome>;
}): CommandDefinition<z.output<S>> {
  return definition as CommandDefinition<z.output<S>>;
}

// Handlers are contravariant in their payload, so a registry holds them at this erased type.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnyCommandDefinition = CommandDefinition<any>;
