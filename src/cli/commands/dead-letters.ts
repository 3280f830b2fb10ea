import type { CommandStatus } from '../../core/envelope.ts';
import { commandsSql } from '../../db/commands-sql.ts';
import { sqlOf } from '../../db/pool.ts';
import { toCommandStatus } from '../../processor/status.ts';
import { formatTable } from '../format.ts';
import { clientOption, expectPositionals, integerOption, type CliCommand } from '../usage.ts';

export interface DeadLetters {
  total: number;
  items: Array<CommandStatus & { clientId: string }>;
}

/** `oncely dead-letters [--limit N] [--client C]`: dead commands, oldest first. */
export const deadLettersCommand: CliCommand<{ clientId: string | undefined; limit: number }> = {
  name: 'dead-letters',
  summary: 'dead commands, oldest first',
  help: `usage: oncely dead-letters [--limit <n>] [--client <clientId>] [--json]

Lists dead commands (their handler kept failing), oldest first, with how many there are in all.

  --limit <n>          at most n of them (1 to 1000, default 50)
  --client <clientId>  only this client's (default: every client's)
  --json               { "total": n, "items": [CommandStatus & { clientId }] } on stdout

example: oncely dead-letters --limit 10`,
  options: { limit: { type: 'string' }, client: { type: 'string' } },
  parse({ values, positionals }) {
    expectPositionals('dead-letters', positionals, 0);
    return { clientId: clientOption(values['client']), limit: integerOption('limit', values['limit'], 1, 1000, 50) };
  },
  async run(context, { clientId, limit }) {
    // Oldest first, every client's unless one is named: the operator's view (the API shows a client its own),
    // read by the same statements as GET /v1/dead-letters.
    const commands = commandsSql(context.config.ONCELY_SCHEMA);
    const sql = sqlOf(context.pool);
    const [rows, count] = await Promise.all([commands.deadLetters(sql, { clientId: clientId ?? null, limit }), commands.countDead(sql, clientId ?? null)]);
    const report: DeadLetters = {
      total: count.count,
      items: rows.map((row) => ({ clientId: row.client_id, ...toCommandStatus(row) })),
    };
    context.report(report, ({ total, items }) => {
      if (total === 0) return 'no dead commands';
      const table = formatTable(
        ['client', 'id', 'type', 'entity', 'attempts', 'error', 'died at'],
        items.map((item) => [item.clientId, item.id, item.type, item.entityId, String(item.attempts), item.error?.code ?? '-', item.completedAt ?? '-']),
      );
      return `${table}\n${items.length} of ${total} dead command${total === 1 ? '' : 's'}${items.length < total ? ' (raise --limit to see more)' : ''}`;
    });
  },
};
