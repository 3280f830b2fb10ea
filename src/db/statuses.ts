// A command's statuses in SQL text: every `status in (...)` and the table's check constraint are built from
// the one list in src/core/envelope.ts, so a status is never spelled out twice.
import { COMMAND_STATUSES, TERMINAL_STATUSES, type CommandStatusName } from '../core/envelope.ts';

const WORD = /^[a-z_]+$/;

/** Statuses of a command not yet ended: queued, retrying. */
export const IN_FLIGHT_STATUSES: readonly CommandStatusName[] = COMMAND_STATUSES.filter((status) => !TERMINAL_STATUSES.has(status));

/** Statuses of an ended command: succeeded, rejected, conflict, dead. */
export const ENDED_STATUSES: readonly CommandStatusName[] = COMMAND_STATUSES.filter((status) => TERMINAL_STATUSES.has(status));

/**
 * `'a', 'b'`: a list of statuses as SQL literals, for `status IN (...)`. The values are the code's constants,
 * never input; they are still checked to be plain words.
 *
 * @example
 * `WHERE status IN (${statusIn(IN_FLIGHT_STATUSES)})` // WHERE status IN ('queued', 'retrying')
 */
export function statusIn(statuses: readonly CommandStatusName[]): string {
  if (statuses.length === 0) throw new Error('statusIn needs at least one status');
  return statuses
    .map((status) => {
      if (!WORD.test(status)) throw new Error(`${status} is not a plain word`);
      return `'${status}'`;
    })
    .join(', ');
}
