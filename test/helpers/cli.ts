import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type pg from 'pg';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

export interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the real `oncely` CLI (src/cli/main.ts, or another script such as bin/oncely.js) as a process. */
export function runCli(args: readonly string[], env: Record<string, string>, script = 'src/cli/main.ts', timeoutMs = 60_000): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [script, ...args], {
      cwd: ROOT,
      env: { PATH: process.env['PATH'] ?? '', LOG_LEVEL: 'silent', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`oncely ${args.join(' ')} did not end within ${timeoutMs} ms; output: ${stdout}${stderr}`));
    }, timeoutMs);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

export interface RawCommand {
  clientId?: string;
  id: string;
  type?: string;
  entityId?: string;
  payload?: unknown;
  status: 'queued' | 'retrying' | 'succeeded' | 'rejected' | 'conflict' | 'dead';
  /** How long ago it ended (a PostgreSQL interval such as '10 days'); null for a command that has not ended. */
  completedAgo: string | null;
}

/** Stores commands by hand, without jobs: states a test needs without running them. */
export async function insertCommands(pool: pg.Pool, commands: readonly RawCommand[]): Promise<void> {
  await pool.query(
    `INSERT INTO oncely.commands (client_id, id, type, entity_id, payload, fingerprint, status, submitted_at, updated_at, completed_at)
     SELECT c.client_id, c.id, c.type, c.entity_id, c.payload, 'by-hand', c.status, now() - interval '60 days', now(),
            CASE WHEN c.completed_ago IS NULL THEN NULL ELSE now() - c.completed_ago::interval END
     FROM jsonb_to_recordset($1::jsonb) AS c(client_id text, id text, type text, entity_id text, payload jsonb, status text, completed_ago text)`,
    [
      JSON.stringify(
        commands.map((c) => ({
          client_id: c.clientId ?? 'anonymous',
          id: c.id,
          type: c.type ?? 'account.open',
          entity_id: c.entityId ?? `acct-${c.id}`,
          payload: c.payload ?? {},
          status: c.status,
          completed_ago: c.completedAgo,
        })),
      ),
    ],
  );
}

/** Row counts of every business table: what a purge must never touch. */
export async function businessCounts(pool: pg.Pool): Promise<Record<string, number>> {
  const { rows } = await pool.query<Record<string, number>>(
    `SELECT (SELECT count(*)::int FROM accounts) AS accounts, (SELECT count(*)::int FROM ledger_entries) AS ledger_entries,
            (SELECT count(*)::int FROM orders) AS orders, (SELECT count(*)::int FROM red_packets) AS red_packets`,
  );
  return rows[0]!;
}

/** Ids of the commands of a client that are still stored, sorted. */
export async function storedIds(pool: pg.Pool, clientId: string): Promise<string[]> {
  const { rows } = await pool.query<{ id: string }>(`SELECT id FROM oncely.commands WHERE client_id = $1 ORDER BY id`, [clientId]);
  return rows.map((row) => row.id);
}
