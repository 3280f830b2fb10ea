import type { CommandError } from './envelope.ts';

/**
 * What applying a command decided. Refusals are values, stored and replayed like successes;
 * only infrastructure failures and bugs are thrown.
 */
export type Outcome =
  | { status: 'succeeded'; result: unknown }
  | { status: 'rejected'; error: CommandError }
  | { status: 'conflict'; error: CommandError };

export function succeeded(result: unknown): Outcome {
  return { status: 'succeeded', result };
}

export function rejected(code: string, message: string, details?: Record<string, unknown>): Outcome {
  return { status: 'rejected', error: details ? { code, message, details } : { code, message } };
}

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

export function notFound(what: string, id: string): Outcome {
  return rejected('not_found', `${what} ${id} does not exist`, { id });
}

/** A pure decision over one entity: the next state, or a refusal. */
export type Decision<S> = { ok: true; state: S } | { ok: false; outcome: Outcome };

export function accept<S>(state: S): Decision<S> {
  return { ok: true, state };
}

export function refuse<S>(code: string, message: string, details?: Record<string, unknown>): Decision<S> {
  return { ok: false, outcome: rejected(code, message, details) };
}
