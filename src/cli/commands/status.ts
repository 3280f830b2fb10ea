import type { CommandStatus } from '../../core/envelope.ts';
import { commandsSql } from '../../db/commands-sql.ts';
import { sqlOf } from '../../db/pool.ts';
import { toCommandStatus } from '../../processor/status.ts';
import { CommandFailed, DEFAULT_CLIENT, UsageError, clientOption, expectPositionals, identifier, type CliCommand } from '../usage.ts';
import { formatStatus } from '../format.ts';

/** `oncely status <id> [--client C]`: one command's status, as GET /v1/commands/{id} answers it. */
export const statusCommand: CliCommand<{ clientId: string; id: string }> = {
  name: 'status',
  summary: "a command's status (CommandStatus)",
  help: `usage: oncely status <id> [--client <clientId>] [--json]

Prints the stored status of one command: the same CommandStatus GET /v1/commands/{id} answers.

  --client <clientId>  whose command (default: ${DEFAULT_CLIENT}; a key's client is key-<16 hex digits>)
  --json               the CommandStatus as JSON on stdout

Exit 1 (and one line on stderr) when there is no such command.

example: oncely status credit-alice-1 --json`,
  options: { client: { type: 'string' } },
  parse({ values, positionals }) {
    expectPositionals('status', positionals, 1);
    const id = positionals[0];
    if (id === undefined) throw new UsageError('status needs a command id (usage: oncely status <id> [--client <clientId>])');
    return { clientId: clientOption(values['client']) ?? DEFAULT_CLIENT, id: identifier('command id', id) };
  },
  async run(context, { clientId, id }) {
    const [row] = await commandsSql(context.config.ONCELY_SCHEMA).select(sqlOf(context.pool), clientId, [id]);
    if (!row) throw new CommandFailed(`no command '${id}' for client '${clientId}'`);
    context.report<CommandStatus>(toCommandStatus(row), formatStatus);
  },
};
