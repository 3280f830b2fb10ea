import type { CommandError } from './envelope.ts';

/**
 * What applying a command decided. Refusals are values, stored and replayed like successes;
 * only infrastructure failures and bugs are thrown.
 */
export type Outcome = { status: 'succeeded'; result: unknown } | { status: 'rejected'; error: CommandError } | { status: 'conflict'; error: CommandError };

/**
 * The command applied; `result` is stored and replayed to every re-submission.
 *
 * @example
 * return succeeded({ status: saved.status, version: saved.version });
 */
export function succeeded(result: unknown): Outcome {
  return { status: 'succeeded', result };
}

/**
 * A business refusal: stored and replayed like a success, and it writes nothing.
 *
 * @example
 * if (order.status !== 'PLACED') return rejected('order_not_placed', `order ${order.id} is ${order.status}`, { status: order.status });
 */
export function rejected(code: string, message: string, details?: Record<string, unknown>): Outcome {
  return { status: 'rejected', error: details ? { code, message, details } : { code, message } };
}

/**
 * The entity is not at the command's `expectedVersion`: the command ends `conflict`.
 *
 * @example
 * if (row.version !== command.expectedVersion) return versionConflict(command.expectedVersion, row.version);
 */
export function versionConflict(expectedVersion: number, actualVersion: number): Outcome {
  return {
    status: 'conflict',
    error: {
      code: 'version_conflict',
      message: `expected version ${expectedVersion}, found ${actualVersion}`,
      details: { expectedVersion, actualVersion },
    },
  };
}

/**
 * The entity a command needs does not exist: `rejected` with code `not_found`.
 *
 * @example
 * if (!state.get(accountRows, accountId)) return notFound('account', accountId);
 */
export function notFound(what: string, id: string): Outcome {
  return rejected('not_found', `${what} ${id} does not exist`, { id });
}

/**
 * A pure decision over one entity: the next state, or a refusal. A refusal is a `Decision<never>`, so it
 * fits wherever any decision is expected, annotated or not.
 *
 * @example
 * const decideReserve = (item: StockItem, quantity: number): Decision<StockItem> =>
 *   item.onHand < quantity ? refuse('insufficient_stock', `only ${item.onHand} left`) : accept({ ...item, onHand: item.onHand - quantity });
 */
export type Decision<S> = { ok: true; state: S } | { ok: false; outcome: Outcome };

/**
 * A decision's next state.
 *
 * @example
 * return accept({ ...card, status: 'REDEEMED' });
 */
export function accept<S>(state: S): Decision<S> {
  return { ok: true, state };
}

/**
 * A decision's refusal, as the `rejected` outcome to return. Typed `Decision<never>`: it fits any decision,
 * with or without an annotation.
 *
 * @example
 * if (card.status !== 'ACTIVE') return refuse('illegal_transition', `gift card ${card.id} is ${card.status}`, { from: card.status, to: 'REDEEMED' });
 */
export function refuse(code: string, message: string, details?: Record<string, unknown>): Decision<never> {
  return { ok: false, outcome: rejected(code, message, details) };
}
