// The failover fault of the chaos run: the primary SIGKILLed with its backends, the standby promoted, the
// run's proxies moved to it. Which acknowledged commands the promoted standby lacks is read from it before
// any client can reach it; their clients then do what docs/operations.md ("Failover") asks of every client:
// retry the same id until a terminal outcome (a 404 for an id answered 202 is answered by POSTing it again).
import pg from 'pg';
import { isTerminalStatus, type ChaosClient } from './client.ts';
import type { History } from './history.ts';
import type { ChaosProxy } from './proxy.ts';
import type { ReplicatedPair, ReplicationMode } from './replication.ts';

export interface FailoverRecord {
  mode: ReplicationMode;
  killedAt: number;
  /** When the proxies were moved to the promoted standby (ms since epoch). */
  promotedAt: number;
  /** Commands acknowledged (a 2xx answer about them) before the promotion. */
  acknowledged: number;
  /**
   * Of those, the ones the promotion lost: the ids the promoted standby does not have (`missing`), and the ids
   * whose outcome their client had been told that the standby does not have (`outcomeLost`: stored, but not
   * yet applied there; the new primary applies them again).
   */
  lost: string[];
  missing: string[];
  outcomeLost: string[];
  /** Resolves once every lost command was sent again under its id and settled (or its deadline passed). */
  resent: Promise<void>;
}

/** How long the clients of lost commands keep retrying them after the promotion. */
const RESEND_DEADLINE_MS = 60_000;

/**
 * The HTTP client's commands answered with a 2xx before `before` (ms since epoch), each with the terminal
 * status its client was told, if any.
 */
export function acknowledgedBefore(history: Pick<History, 'commands'>, before: number): Map<string, string | undefined> {
  const acknowledged = new Map<string, string | undefined>();
  for (const record of history.commands.values()) {
    if (record.via) continue;
    const answered = record.ops.filter((op) => op.outcome === 'ok' && op.kind !== 'different' && op.completedAt <= before);
    if (answered.length === 0) continue;
    acknowledged.set(record.envelope.id, answered.find((op) => isTerminalStatus(op.seen?.status))?.seen?.status);
  }
  return acknowledged;
}

/** Which acknowledged commands the server at `url` lacks, or holds without the outcome their client was told. */
async function lostOn(url: string, acknowledged: ReadonlyMap<string, string | undefined>): Promise<{ missing: string[]; outcomeLost: string[] }> {
  const client = new pg.Client({ connectionString: url, application_name: 'oncely-chaos-checker' });
  client.on('error', () => {});
  await client.connect();
  try {
    const { rows } = await client.query<{ id: string; status: string }>(`SELECT id, status FROM oncely.commands WHERE client_id = 'anonymous' AND id = ANY($1)`, [
      [...acknowledged.keys()],
    ]);
    const stored = new Map(rows.map((row) => [row.id, row.status]));
    const missing: string[] = [];
    const outcomeLost: string[] = [];
    for (const [id, told] of acknowledged) {
      if (!stored.has(id)) missing.push(id);
      else if (told !== undefined && stored.get(id) !== told) outcomeLost.push(id);
    }
    return { missing, outcomeLost };
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
  /** The WAL link partitioned for this long before the kill (0: no partition). */
  partitionMs?: number;
}): () => Promise<string> {
  const { pair } = options;
  const partitionMs = options.partitionMs ?? 0;
  return async () => {
    if (partitionMs > 0) {
      // The zones lose each other first: an asynchronous primary goes on committing what the standby will
      // never get; a synchronous one acknowledges nothing meanwhile.
      pair.partition(partitionMs + 5000);
      await new Promise((resolve) => setTimeout(resolve, partitionMs));
    }
    const killedAt = Date.now();
    await pair.killPrimary();
    await pair.promote();
    // Read before the proxies move: nothing new can reach the promoted standby yet.
    const acknowledged = acknowledgedBefore(options.history, Date.now());
    const { missing, outcomeLost } = await lostOn(pair.urlOf(pair.standbyPort, options.database), acknowledged);
    let moved = 0;
    for (const proxy of options.proxies) moved += proxy?.retarget(pair.standbyPort) ?? 0;
    const promotedAt = Date.now();
    // The clients of missing commands get a 404 for them and POST them again; a command whose outcome was lost
    // is still queued on the new primary, which applies it again by itself.
    const resent = resend(options.client, options.history, missing);
    const lost = [...missing, ...outcomeLost];
    options.onDone({ mode: pair.mode, killedAt, promotedAt, acknowledged: acknowledged.size, lost, missing, outcomeLost, resent });
    return (
      `${partitionMs > 0 ? `after ${partitionMs / 1000}s of WAL link partition, ` : ''}${pair.mode} standby promoted ${((promotedAt - killedAt) / 1000).toFixed(1)}s after the kill, proxies moved (${moved} connections reset); ` +
      `of ${acknowledged.size} acknowledged commands ${missing.length} missing on it (sent again by their clients), ${outcomeLost.length} without the outcome their client was told (applied again)`
    );
  };
}
