import type pg from 'pg';
import { isTerminal, type CommandStatus } from '../core/envelope.ts';
import type { SettledListener } from '../db/settled-listener.ts';
import { SELECT_COMMANDS, type CommandRow } from './sql.ts';
import { toCommandStatus } from './status.ts';
import { submitCommands, type Enqueue, type NewCommand, type Submission } from './submit.ts';

export interface CommandService {
  submit(clientId: string, commands: readonly NewCommand[]): Promise<Submission[]>;
  get(clientId: string, id: string): Promise<CommandStatus | null>;
  /** Reads the command, waiting up to `seconds` for it to become terminal. */
  waitFor(clientId: string, id: string, seconds: number): Promise<CommandStatus | null>;
}

/** The longest a single wait re-reads the row without a notification (a lost NOTIFY costs at most this). */
const RECHECK_MS = 1000;

/**
 * Submission and reads of commands, shared by every adapter (HTTP, the typed client, a user's own code).
 *
 * @example
 * const service = createCommandService({ pool, enqueue: queue.enqueue, listener });
 * const [submission] = await service.submit('anonymous', [{ id: 'c1', type: 'account.open', entityId: 'a1', expectedVersion: undefined, payload: {} }]);
 */
export function createCommandService(deps: { pool: pg.Pool; enqueue: Enqueue; listener: SettledListener | undefined }): CommandService {
  const get = async (clientId: string, id: string) => {
    const { rows } = await deps.pool.query<CommandRow>(SELECT_COMMANDS, [clientId, [id]]);
    return rows[0] ? toCommandStatus(rows[0]) : null;
  };
  return {
    submit: (clientId, commands) => submitCommands(deps.pool, deps.enqueue, clientId, commands),
    get,
    async waitFor(clientId, id, seconds) {
      const deadline = Date.now() + seconds * 1000;
      const subscription = deps.listener?.subscribe(clientId, id);
      try {
        for (;;) {
          const status = await get(clientId, id);
          const remaining = deadline - Date.now();
          if (!status || isTerminal(status.status) || remaining <= 0) return status;
          if (subscription) await subscription.next(Math.min(remaining, RECHECK_MS));
          else await new Promise((resolve) => setTimeout(resolve, Math.min(remaining, 200)));
        }
      } finally {
        subscription?.close();
      }
    },
  };
}
