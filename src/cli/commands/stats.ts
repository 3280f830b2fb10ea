import { COMMAND_STATUSES, type CommandStatusName } from '../../core/envelope.ts';
import { commandsSql } from '../../db/commands-sql.ts';
import { sqlOf } from '../../db/pool.ts';
import { formatFields, formatTable } from '../format.ts';
import { clientOption, expectPositionals, type CliCommand } from '../usage.ts';

/** Where duplicate counts live: they are counted in memory by each process, never stored. */
export const DUPLICATES_NOTE =
  'duplicates absorbed are not stored in the database: read oncely_duplicates_absorbed_total{stage} on /metrics (the api) or each process on METRICS_PORT';

export interface Stats {
  byStatus: Record<CommandStatusName, number>;
  byType: Record<string, { total: number } & Partial<Record<CommandStatusName, number>>>;
  /** Commands queued or retrying. */
  queueDepth: number;
  /** Seconds since the oldest queued or retrying command was submitted; null when there is none. */
  oldestQueuedSeconds: number | null;
  deadLetters: number;
  duplicates: { stored: false; note: string };
}

/** `oncely stats`: counts by status and type, the backlog and the dead letters. */
export const statsCommand: CliCommand<{ clientId: string | undefined }> = {
  name: 'stats',
  summary: 'counts by status and type, queue depth, oldest queued age, dead letters',
  help: `usage: oncely stats [--client <clientId>] [--json]

Counts stored commands by status and by type, the backlog (commands queued or retrying, and how long the
oldest of them has waited since it was submitted) and the dead letters. Duplicates absorbed are counted by
each process in memory, not stored: read oncely_duplicates_absorbed_total on the /metrics endpoints.
Purged commands (COMMAND_RETENTION, oncely purge) are no longer counted.

  --client <clientId>  only this client's commands (default: every client's)
  --json               the figures as JSON on stdout

example: oncely stats --json`,
  options: { client: { type: 'string' } },
  parse({ values, positionals }) {
    expectPositionals('stats', positionals, 0);
    return { clientId: clientOption(values['client']) };
  },
  async run(context, { clientId }) {
    const commands = commandsSql(context.config.ONCELY_SCHEMA);
    const sql = sqlOf(context.pool);
    const [counts, backlog] = await Promise.all([commands.countByTypeAndStatus(sql, clientId ?? null), commands.backlog(sql, clientId ?? null)]);
    const byStatus = Object.fromEntries(COMMAND_STATUSES.map((status) => [status, 0])) as Record<CommandStatusName, number>;
    const byType: Stats['byType'] = {};
    for (const { type, status, count } of counts) {
      byStatus[status] += count;
      const entry = (byType[type] ??= { total: 0 });
      entry.total += count;
      entry[status] = count;
    }
    const oldest = backlog.oldestSeconds;
    const stats: Stats = {
      byStatus,
      byType,
      queueDepth: backlog.depth,
      oldestQueuedSeconds: oldest === null || oldest === undefined ? null : Math.max(0, Math.round(oldest * 10) / 10),
      deadLetters: byStatus.dead,
      duplicates: { stored: false, note: DUPLICATES_NOTE },
    };
    context.report(stats, render);
  },
};

function render(stats: Stats): string {
  const types = Object.entries(stats.byType);
  const statusTable = formatTable(
    ['status', 'commands'],
    COMMAND_STATUSES.map((status) => [status, String(stats.byStatus[status])]),
  );
  const typeTable =
    types.length === 0
      ? 'no commands stored'
      : formatTable(
          ['type', 'total', ...COMMAND_STATUSES],
          types.map(([type, counts]) => [type, String(counts.total), ...COMMAND_STATUSES.map((status) => String(counts[status] ?? 0))]),
        );
  const figures = formatFields([
    ['queue depth', `${stats.queueDepth} (queued or retrying)`],
    ['oldest queued', stats.oldestQueuedSeconds === null ? '-' : `${stats.oldestQueuedSeconds} s`],
    ['dead letters', String(stats.deadLetters)],
    ['duplicates', DUPLICATES_NOTE],
  ]);
  return `${statusTable}\n\n${typeTable}\n\n${figures}`;
}
