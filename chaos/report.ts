// What the chaos run prints at the end: the history, the faults, the bursts, the late commands (with their
// rows and jobs, for the hunt), and the figures.
import type pg from 'pg';
import type { Figure, FinalState } from './checker.ts';
import type { History } from './history.ts';
import type { NemesisStats } from './nemesis.ts';
import type { ProxyStats } from './proxy.ts';
import { historySummary } from './checker.ts';
import type { WorkloadResult } from './workload.ts';

/**
 * One line per late command: its row (type, entity, status, attempts, failures, error, when it was created
 * and ended relative to the start of the recovery window) and its pg-boss jobs (state, retries, when each
 * was created, due, started, completed).
 */
export async function describeLate(db: pg.Client, ids: string[], from: number, started: number): Promise<string[]> {
  if (ids.length === 0) return [];
  const rel = (ms: number | null) => (ms === null ? '-' : `t=${((ms - started) / 1000).toFixed(1)}s`);
  const { rows } = await db.query<{
    id: string;
    type: string;
    entity_id: string;
    status: string;
    attempts: number;
    failures: number;
    error: unknown;
    created_ms: number;
    completed_ms: number | null;
  }>(
    `SELECT id, type, entity_id, status, attempts, failures, error, (extract(epoch FROM submitted_at) * 1000)::float8 AS created_ms,
            (extract(epoch FROM completed_at) * 1000)::float8 AS completed_ms
       FROM oncely.commands WHERE client_id = 'anonymous' AND id = ANY($1) ORDER BY completed_at DESC NULLS FIRST`,
    [ids],
  );
  const jobs = await db
    .query<{
      id: string;
      name: string;
      size: number;
      state: string;
      retry_count: number;
      created_ms: number;
      start_after_ms: number;
      started_ms: number | null;
      completed_ms: number | null;
    }>(
      // A job carries one command ({clientId, id}) or several ({commands: [...]}).
      `SELECT coalesce(c.ref->>'id', j.data->>'id') AS id, j.name, coalesce(jsonb_array_length(j.data->'commands'), 1) AS size, j.state::text AS state, j.retry_count,
              (extract(epoch FROM j.created_on) * 1000)::float8 AS created_ms, (extract(epoch FROM j.start_after) * 1000)::float8 AS start_after_ms,
              (extract(epoch FROM j.started_on) * 1000)::float8 AS started_ms, (extract(epoch FROM j.completed_on) * 1000)::float8 AS completed_ms
         FROM pgboss.job j
         LEFT JOIN LATERAL jsonb_array_elements(CASE WHEN jsonb_typeof(j.data->'commands') = 'array' THEN j.data->'commands' ELSE '[]'::jsonb END) AS c(ref) ON true
        WHERE coalesce(c.ref->>'id', j.data->>'id') = ANY($1) ORDER BY j.created_on`,
      [ids],
    )
    .then(
      (result) => result.rows,
      (err: Error) => [
        {
          id: '',
          name: `pgboss.job unreadable: ${err.message}`,
          size: 0,
          state: '',
          retry_count: 0,
          created_ms: 0,
          start_after_ms: 0,
          started_ms: null,
          completed_ms: null,
        },
      ],
    );
  return rows.map((row) => {
    const own = jobs.filter((job) => job.id === row.id);
    const late = row.completed_ms === null ? 'never' : `${((row.completed_ms - from) / 1000).toFixed(1)}s after the window opened`;
    return (
      `${row.id} ${row.type} ${row.entity_id}: ${row.status} (${late}), attempts ${row.attempts}, failures ${row.failures}, created ${rel(row.created_ms)}, ended ${rel(row.completed_ms)}` +
      `, error ${JSON.stringify(row.error)?.slice(0, 200)}; jobs: ` +
      own
        .map(
          (job) =>
            `[${job.name} (${job.size} commands) ${job.state} retry ${job.retry_count} created ${rel(job.created_ms)} due ${rel(job.start_after_ms)} started ${rel(job.started_ms)} done ${rel(job.completed_ms)}]`,
        )
        .join(' ')
    );
  });
}

/** How soon after PostgreSQL comes back the workers must be applying commands again. */
export const RECOVERY_LIMIT_SECONDS = 30;

export function median(values: readonly number[]): string {
  if (values.length === 0) return '-';
  const sorted = [...values].sort((a, b) => a - b);
  return `${(sorted[Math.floor(sorted.length / 2)] ?? 0).toFixed(1)}s`;
}

export interface ReportInput {
  history: History;
  stats: NemesisStats;
  proxy: ProxyStats | undefined;
  /** The broker-fed part, when the run had one: which brokers, their client ids, how much garbage. */
  brokers: { names: readonly string[]; garbage: number } | undefined;
  relay: boolean;
  workload: WorkloadResult;
  state: FinalState;
  started: number;
  workloadEndedAt: number;
  terminalWithin: number;
  recoveryFrom: number;
  late: readonly string[];
  /** Extra lines (the failover, the memory) printed before the figures. */
  notes: readonly string[];
  figures: readonly Figure[];
}

/** Prints the report, one line at a time. */
export function printReport(say: (line: string) => void, input: ReportInput): void {
  const { history, stats, state, started } = input;
  const summary = historySummary([...history.commands.values()]);
  const counts = history.counts();
  say('');
  say(
    `history: ${summary.commands} commands, ${summary.ops} operations (ok ${counts.ok}, failed ${counts.failed}, unknown ${counts.unknown}), ${summary.resent} sent more than once, ${summary.unknownOnly} never answered`,
  );
  say(
    `faults: worker kills ${stats.workerKills}, api kills ${stats.apiKills}, worker SIGSTOPs ${stats.workerStops}, PostgreSQL restarts ${stats.postgresRestarts}, ` +
      `terminate sweeps ${stats.terminateSweeps} (${stats.backendsTerminated} sessions), COMMIT cuts ${input.proxy?.commitCuts ?? 0}, ` +
      `resets ${stats.resetConnections}, black holes ${stats.blackholedConnections}, latency spells ${stats.latencySpells}` +
      (input.brokers ? `, inbox kills ${stats.inboxKills}, broker cuts ${stats.brokerCuts} (${stats.brokerConnectionsClosed} connections)` : '') +
      (input.relay ? `, relay kills ${stats.relayKills}` : '') +
      (stats.failovers > 0 ? `, failovers ${stats.failovers}` : ''),
  );
  if (input.brokers) {
    const names = input.brokers.names;
    const fed = [...history.commands.values()].filter((record) => record.via);
    const publishes = fed.flatMap((record) => record.ops.filter((op) => op.kind === 'publish'));
    say(
      `brokers: ${fed.length} commands published (${names.map((b) => `${b} ${fed.filter((r) => r.via === b).length}`).join(', ')}), ${publishes.length} publishes ` +
        `(${publishes.filter((op) => op.outcome === 'unknown').length} unconfirmed), ${fed.filter((r) => r.ops.filter((op) => op.kind === 'publish').length > 1).length} published more than once, ` +
        `${input.brokers.garbage} garbage messages`,
    );
  }
  const at = (ms: number) => `t=${((ms - started) / 1000).toFixed(1)}s`;
  // How long each burst took to drain: from its firing to the last of its commands terminal.
  const drained = (index: number) => {
    let last = 0;
    for (const [id, row] of state.commands) if (id.startsWith(`b${index}-`) && typeof row.completed_ms === 'number') last = Math.max(last, row.completed_ms);
    return last;
  };
  say(
    `bursts: ${
      input.workload.bursts
        .map((b) => {
          // The same question as the figure, for this burst alone: from the later of its last send and the
          // last fault that ended before it drained, to its last command terminal.
          const end = drained(b.index);
          const faultEnd = Math.max(0, ...stats.timeline.filter((f) => f.endedAt <= end && f.endedAt >= b.firedAt).map((f) => f.endedAt));
          const from = Math.max(b.sentAt, faultEnd);
          return (
            `${b.commands} ${b.reason} at ${at(b.firedAt)} (sent in ${((b.sentAt - b.firedAt) / 1000).toFixed(1)}s, all terminal in ${((end - b.firedAt) / 1000).toFixed(1)}s, ` +
            `${((end - from) / 1000).toFixed(1)}s after ${from === b.sentAt ? 'its last send' : 'the last fault during it'})`
          );
        })
        .join('; ') || 'none'
    }`,
  );
  const last = stats.timeline.length > 0 ? stats.timeline.reduce((a, b) => (b.endedAt > a.endedAt ? b : a)) : undefined;
  say(
    `last fault: ${last ? `${last.event} ended ${at(last.endedAt)}` : 'none'}; workload ended ${at(input.workloadEndedAt)}` +
      `${stats.lastFaultAt ? ` (calm tail ${((input.workloadEndedAt - stats.lastFaultAt) / 1000).toFixed(1)}s)` : ''}`,
  );
  if (input.late.length > 0) {
    say(`late commands (terminal more than ${input.terminalWithin}s after ${at(input.recoveryFrom)}, or never), latest first:`);
    for (const line of input.late.slice(0, 10)) say(`  ${line}`);
  }
  if (state.redelivered) {
    say(`redeliveries: ${state.redelivered.commands} commands (poison aside) ended after more than one attempt, at most ${state.redelivered.maxAttempts} attempts`);
  }
  for (const line of input.notes) say(line);
  for (const fig of input.figures) say(`${fig.ok ? 'PASS' : 'FAIL'}  ${fig.name}: ${fig.value}`);
}

/** The figure over the PostgreSQL restarts: after each, some command applied within RECOVERY_LIMIT_SECONDS. */
export function restartRecoveryFigure(recoveries: readonly (number | null)[]): Figure {
  const known = recoveries.filter((seconds): seconds is number => seconds !== null);
  const worst = known.length > 0 ? Math.max(...known) : undefined;
  const slow = recoveries.filter((seconds) => seconds === null || seconds > RECOVERY_LIMIT_SECONDS).length;
  return {
    name: `PostgreSQL restarts after which no command was applied within ${RECOVERY_LIMIT_SECONDS}s`,
    value: `${slow} of ${recoveries.length} (slowest ${worst === undefined ? '-' : `${worst.toFixed(1)}s`}, median ${median(known)})`,
    ok: slow === 0,
  };
}
