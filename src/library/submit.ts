// submit(tx, commands): the library's intake. Every envelope is checked first (the same checks, and reason
// codes, as HTTP and the broker inboxes), so a bad one throws before anything is written and the caller's
// transaction can roll back whole; then the commands and their jobs are written on the caller's connection.
import type { FieldError } from '../core/field-errors.ts';
import type { Registry } from '../core/registry.ts';
import type { Enqueue } from '../processor/ports.ts';
import { checkIntake, type IntakeReason } from '../processor/intake.ts';
import { submitInTransaction, type NewCommand, type Submission } from '../processor/submit.ts';
import { sqlOfTransaction, type Transaction } from './transaction.ts';

/**
 * One command as the caller submits it: the contract's envelope (section 2). `id` is the idempotency key.
 *
 * @example
 * const reserve: CommandEnvelope = { id: 'order-42-reserve', type: 'stock.reserve', entityId: 'r-42', payload: { orderId: 'order-42', sku: 'apple', quantity: 3 } };
 */
export interface CommandEnvelope<T extends string = string, P = unknown> {
  id: string;
  type: T;
  entityId: string;
  expectedVersion?: number;
  payload?: P;
}

/**
 * A command `submit(tx, ...)` refused before writing anything: `reason` is the contract's problem code
 * (`invalid_request`, `unknown_command_type`, `invalid_payload`), `index` and `id` say which command.
 *
 * @example
 * try { await submit(tx, commands); } catch (err) { if (err instanceof CommandRefusedError) console.log(err.reason, err.errors); throw err; }
 */
export class CommandRefusedError extends Error {
  override name = 'CommandRefusedError';
  readonly reason: IntakeReason;
  readonly detail: string;
  /** Position of the refused command in the list given to submit. */
  readonly index: number;
  readonly id: string | undefined;
  /** One entry per offending field (`payload.amount`), for invalid_request and invalid_payload. */
  readonly errors: readonly FieldError[];
  constructor(refusal: { reason: IntakeReason; detail: string; index: number; id: string | undefined; errors?: readonly FieldError[] | undefined }) {
    super(`command ${refusal.index}${refusal.id === undefined ? '' : ` (${refusal.id})`} refused: ${refusal.reason}: ${refusal.detail}`);
    this.reason = refusal.reason;
    this.detail = refusal.detail;
    this.index = refusal.index;
    this.id = refusal.id;
    this.errors = refusal.errors ?? [];
  }
}

/** What a submission needs from a started oncely: the command types it accepts and where jobs go. */
export interface SubmitDeps {
  registry: Registry;
  enqueue: Enqueue;
  /** The schema oncely's tables live in (ONCELY_SCHEMA). */
  schema: string;
}

/**
 * Checks every envelope, then stores the commands and queues their jobs on the caller's transaction.
 * Throws `CommandRefusedError` for the first bad envelope, having written nothing.
 */
export async function submitEnvelopes(deps: SubmitDeps, tx: Transaction, envelopes: readonly CommandEnvelope[], clientId: string): Promise<Submission[]> {
  // JavaScript callers may pass anything; checked on a copy typed unknown, as Array.isArray would narrow the elements to any.
  const given: unknown = envelopes;
  if (!Array.isArray(given)) throw new TypeError('submit(tx, commands) takes an array of commands');
  const sql = sqlOfTransaction(tx);
  const commands: NewCommand[] = envelopes.map((envelope, index) => {
    const intake = checkIntake(envelope, deps.registry);
    if (!intake.ok) {
      const id = typeof envelope?.id === 'string' ? envelope.id : undefined;
      throw new CommandRefusedError({ reason: intake.reason, detail: intake.detail, index, id, errors: intake.errors });
    }
    return intake.command;
  });
  if (commands.length === 0) return [];
  return submitInTransaction(sql, deps.schema, deps.enqueue, clientId, commands);
}
