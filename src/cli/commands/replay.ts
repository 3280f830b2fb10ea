import type { CommandStatus } from '../../core/envelope.ts';
import { commandsSql, type DeadLetterAfter } from '../../db/commands-sql.ts';
import { sqlOf } from '../../db/pool.ts';
import type { CommandService } from '../../processor/commands.ts';
import type { CliContext } from '../context.ts';
import { formatStatus } from '../format.ts';
import { CommandFailed, DEFAULT_CLIENT, UsageError, clientOption, expectPositionals, identifier, type CliCommand } from '../usage.ts';

/** Dead commands replayed per page of `--all-dead`: each is its own short transaction, as over HTTP. */
const PAGE_SIZE = 100;

type ReplayInput = { kind: 'one'; clientId: string; id: string } | { kind: 'all'; clientId: string | undefined };

export interface AllDeadReplay {
  /** Dead commands put back on the queue. */
  replayed: number;
  /** Listed as dead but no longer dead when their turn came (replayed or purged meanwhile). */
  skipped: number;
}

async function commandService(context: CliContext): Promise<CommandService> {
  const [queue, { createCommandService }] = await Promise.all([context.queue(), import('../../processor/commands.ts')]);
  // The same replay as POST /v1/commands/{id}/replay: the row back to queued and its job, in one transaction.
  return createCommandService({ pool: context.pool, schema: context.config.ONCELY_SCHEMA, enqueue: queue.enqueue, listener: undefined });
}

async function replayOne(context: CliContext, clientId: string, id: string): Promise<void> {
  const replay = await (await commandService(context)).replay(clientId, id);
  if (replay.outcome === 'not_found') throw new CommandFailed(`no command '${id}' for client '${clientId}'`);
  if (replay.outcome === 'not_dead') throw new CommandFailed(`command '${id}' is ${replay.status.status}, not dead: only a dead command can be replayed`);
  context.report<CommandStatus>(replay.status, (status) => `replayed ${status.id}: it is queued again\n${formatStatus(status)}`);
}

async function replayAllDead(context: CliContext, clientId: string | undefined): Promise<void> {
  const commands = commandsSql(context.config.ONCELY_SCHEMA);
  const sql = sqlOf(context.pool);
  const { at: started, count: total } = await commands.countDead(sql, clientId ?? null);
  const result: AllDeadReplay = { replayed: 0, skipped: 0 };
  if (total > 0) {
    const service = await commandService(context);
    const bar = context.progress('replaying', total);
    let after: DeadLetterAfter | undefined;
    try {
      for (;;) {
        // Only commands that were dead when the run began (died by `started`): one that dies again during the run
        // is not replayed twice, so the run always ends. Keyset order, so replays going on at the same time
        // neither skip nor repeat a row.
        const page = await commands.deadLetters(sql, { clientId: clientId ?? null, after, diedBy: started, limit: PAGE_SIZE });
        for (const row of page) {
          const replay = await service.replay(row.client_id, row.id);
          if (replay.outcome === 'replayed') result.replayed++;
          else result.skipped++;
          bar.increment(1);
        }
        const last = page.at(-1);
        if (!last?.completed_at || page.length < PAGE_SIZE) break;
        after = [last.completed_at, last.client_id, last.id];
      }
    } finally {
      bar.stop();
    }
  }
  context.report(result, ({ replayed, skipped }) =>
    replayed === 0 && skipped === 0
      ? 'no dead commands to replay'
      : `replayed ${replayed} dead command${replayed === 1 ? '' : 's'}${skipped > 0 ? ` (${skipped} no longer dead when their turn came)` : ''}`,
  );
}

/** `oncely replay <id>` and `oncely replay --all-dead`: dead commands back on the queue under their own ids. */
export const replayCommand: CliCommand<ReplayInput> = {
  name: 'replay',
  summary: 'put a dead command (or every dead command) back on the queue',
  help: `usage: oncely replay <id> [--client <clientId>] [--json]
       oncely replay --all-dead [--client <clientId>] [--json]

Puts a dead command back on the queue under the same id, exactly as POST /v1/commands/{id}/replay does:
the row goes back to queued together with a new job, in one transaction. Only a dead command is replayed.

  --all-dead           every command that is dead now, page by page (a progress bar when stderr is a terminal)
  --client <clientId>  whose command (default for <id>: ${DEFAULT_CLIENT}; for --all-dead: every client)
  --json               the CommandStatus (<id>), or { "replayed": n, "skipped": n } (--all-dead), on stdout

Exit 1 when the command does not exist or is not dead.

examples: oncely replay credit-alice-1
          oncely replay --all-dead --json`,
  options: { client: { type: 'string' }, 'all-dead': { type: 'boolean' } },
  parse({ values, positionals }) {
    expectPositionals('replay', positionals, 1);
    const clientId = clientOption(values['client']);
    const id = positionals[0];
    if (values['all-dead'] === true) {
      if (id !== undefined) throw new UsageError('replay takes either a command id or --all-dead, not both');
      return { kind: 'all', clientId };
    }
    if (id === undefined) throw new UsageError('replay needs a command id, or --all-dead (usage: oncely replay <id> | --all-dead)');
    return { kind: 'one', clientId: clientId ?? DEFAULT_CLIENT, id: identifier('command id', id) };
  },
  run(context, input) {
    return input.kind === 'one' ? replayOne(context, input.clientId, input.id) : replayAllDead(context, input.clientId);
  },
};
