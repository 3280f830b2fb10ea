// Test-only fault injection (ONCELY_FAULT). Lets the crash tests kill a real worker process at an exact
// point of a command's transaction. Never set in production.
import pg from 'pg';
import type { Config } from '../config.ts';
import type { ApplyHooks } from '../processor/apply.ts';

export function faultHooks(fault: Config['ONCELY_FAULT'], url: string): ApplyHooks | undefined {
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
            const { rows } = await client.query<{ status: string }>('SELECT status FROM commands WHERE client_id = $1 AND id = $2', [delivery.clientId, delivery.id]);
            if (rows[0] && !['queued', 'retrying'].includes(rows[0].status)) process.kill(process.pid, 'SIGKILL');
            await new Promise((resolve) => setTimeout(resolve, 2));
          }
        })();
      },
    };
  }
  return undefined;
}
