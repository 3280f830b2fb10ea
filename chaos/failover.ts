// The failover fault of the chaos run: the primary SIGKILLed with its backends, the standby promoted, the
// run's proxies moved to it. Which acknowledged commands the promoted standby lacks is read from it before
// any client can reach it; their clients then do what docs/operations.md ("Failover") asks of every client:
// retry the same id until a terminal outcome (a 404 for an id answered 202 is answered by POSTing it again).
import pg from 'pg';
import type { ChaosClient } from './client.ts';
import type { History } from './history.ts';
import type { ChaosProxy } from './proxy.ts';
import type { ReplicatedPair, ReplicationMode } from './replication.ts';

export interface FailoverRecord {
  mode: ReplicationMode;
  killedAt: number;
  /** When the proxies were moved to the promoted standby (ms since epoch). */
  promotedAt: number;
  /** Commands acknowledged (a 2xx to a POST) before the promotion. */
  acknowledged: number;
  /** Of those, the ids the promoted standby does not have. */
  lost: string[];
  /** Resolves once every lost command was sent again under its id and settled (or its deadline passed). */
  resent: Promise<void>;
}

/** How long the clients of lost commands keep retrying them after the promotion. */
const RESEND_DEADLINE_MS = 60_000;

/** Ids of the HTTP client's commands acknowledged before `before` (ms since epoch). */
export function acknowledgedBefore(history: Pick<History, 'commands'>, before: number): string[] {
  const ids: string[] = [];
  for (const record of history.commands.values()) {
    if (record.via) continue;
    if (record.ops.some((op) => op.outcome === 'ok' && op.kind !== 'read' && op.kind !== 'different' && op.completedAt <= before)) ids.push(record.envelope.id);
  }
  return ids;
}

async function missingOn(url: string, ids: readonly string[]): Promise<string[]> {
  const client = new pg.Client({ connectionString: url, application_name: 'oncely-chaos-checker' });
  client.on('error', () => {});
  await client.connect();
  try {
    const { rows } = await client.query<{ id: string }>(`SELECT id FROM oncely.commands WHERE client_id = 'anonymous' AND id = ANY($1)`, [ids]);
    const found = new Set(rows.map((row) => row.id));
    return ids.filter((id) => !found.has(id));
  } finally {
    await client.end().catch(() => {});
  }
}

/** Each lost command POSTed again under its id until acknowledged, then read until terminal, 16 at a time. */
async function resend(client: ChaosClient, history: Pick<History, 'commands'>, ids: readonly string[]): Promise<void> {
  const deadline = Date.now() + RESEND_DEADLINE_MS;
  const queue = [...ids];
  await Promise.all(
    Array.from({ length: 16 }, async () => {
      for (let id = queue.shift(); id !== undefined; id = queue.shift()) {
        const record = history.commands.get(id);
        if (!record) continue;
        const answer = await client.submit(record.envelope, deadline);
        if (answer.op.outcome === 'ok') await client.settle(id, deadline);
      }
    }),
  );
}

/**
 * The fault, as the nemesis calls it. `onDone` receives the record once the proxies point at the promoted
 * standby.
 *
 * @example
 * const fault = createFailoverFault({ pair, database, proxies: [route, proxy], history, client, onDone: (r) => (record = r) });
 * const line = await fault();
 */
export function createFailoverFault(options: {
  pair: ReplicatedPair;
  database: string;
  proxies: readonly (ChaosProxy | undefined)[];
  history: Pick<History, 'commands'>;
  client: ChaosClient;
  onDone: (record: FailoverRecord) => void;
}): () => Promise<string> {
  const { pair } = options;
  return async () => {
    const killedAt = Date.now();
    await pair.killPrimary();
    await pair.promote();
    // Read before the proxies move: nothing new can reach the promoted standby yet.
    const acknowledged = acknowledgedBefore(options.history, Date.now());
    const lost = await missingOn(pair.urlOf(pair.standbyPort, options.database), acknowledged);
    let moved = 0;
    for (const proxy of options.proxies) moved += proxy?.retarget(pair.standbyPort) ?? 0;
    const promotedAt = Date.now();
    options.onDone({ mode: pair.mode, killedAt, promotedAt, acknowledged: acknowledged.length, lost, resent: resend(options.client, options.history, lost) });
    return (
      `${pair.mode} standby promoted ${((promotedAt - killedAt) / 1000).toFixed(1)}s after the kill, proxies moved (${moved} connections reset); ` +
      `${lost.length} of ${acknowledged.length} acknowledged commands missing on it${lost.length > 0 ? ', sent again by their clients' : ''}`
    );
  };
}
