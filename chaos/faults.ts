// Test-only fault injection (ONCELY_FAULT, read by chaos/entries/worker.ts, never by src/). Lets the crash
// tests kill a real worker process at an exact point of a command's transaction.
import pg from 'pg';
import { z } from 'zod';
import type { ApplyHooks } from '../src/processor/apply.ts';

export const FaultSchema = z.enum(['kill-in-transaction', 'kill-after-commit']).optional();
export type Fault = z.output<typeof FaultSchema>;

/** ONCELY_FAULT from the environment given; a malformed value is an error, never ignored. */
export function readFault(env: Record<string, string | undefined>): Fault {
  const value = env['ONCELY_FAULT'];
  const parsed = FaultSchema.safeParse(value === '' ? undefined : value);
  if (!parsed.success) throw new Error(`ONCELY_FAULT must be one of ${FaultSchema.unwrap().options.join(', ')}`);
  return parsed.data;
}

export function faultHooks(fault: Fault, url: string): ApplyHooks | undefined {
  if (fault === 'kill-in-transaction') {
    // The effect and outcome are written but not committed: the server must roll them back.
    return { beforeSettle: () => void process.kill(process.pid, 'SIGKILL') };
  }
  if (fault === 'kill-after-commit') {
    return {
      beforeSettle(delivery) {
        // Dies the moment the commit is visible from another session, before anything else happens.
        void (async () => {
          const client = new pg.Client({ connectionString: url });
          await client.connect();
          for (let i = 0; i < 5000; i++) {
            const { rows } = await client.query<{ status: string }>('SELECT status FROM oncely.commands WHERE client_id = $1 AND id = $2', [
              delivery.clientId,
              delivery.id,
            ]);
            if (rows[0] && !['queued', 'retrying'].includes(rows[0].status)) process.kill(process.pid, 'SIGKILL');
            await new Promise((resolve) => setTimeout(resolve, 2));
          }
        })();
      },
    };
  }
  return undefined;
}
