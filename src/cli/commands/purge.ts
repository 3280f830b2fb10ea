import { DURATION_FORMAT, parseDuration } from '../../core/duration.ts';
import { UsageError, expectPositionals, type CliCommand } from '../usage.ts';

export interface PurgeReport {
  /** Ended commands deleted (or, with --dry-run, that would be). */
  purged: number;
  /** Commands that ended before this instant were eligible (the database's clock). */
  cutoff: string;
  dryRun: boolean;
}

/** `oncely purge --older-than 7d`: deletes ended commands past a cutoff, in bounded batches. */
export const purgeCommand: CliCommand<{ olderThan: string; ms: number; dryRun: boolean }> = {
  name: 'purge',
  summary: 'delete ended commands older than a duration',
  help: `usage: oncely purge --older-than <duration> [--dry-run] [--json]

Deletes ended commands (succeeded, rejected, conflict, dead) that ended longer ago than <duration>, a bounded
batch per transaction, one purger at a time (the workers' COMMAND_RETENTION sweep waits its turn). A queued or
retrying command is never purged, and neither is any business row (accounts, ledger, orders, red packets).

Once a command is purged its id is free again: re-submitting it creates a NEW command. Purge only past the
longest time any client or broker may still retry (see docs/operations.md, "Retention and the dedupe window").

  --older-than <duration>  ${DURATION_FORMAT}
  --dry-run                count what would be purged, delete nothing
  --json                   { "purged": n, "cutoff": "...", "dryRun": false } on stdout

example: oncely purge --older-than 30d`,
  options: { 'older-than': { type: 'string' }, 'dry-run': { type: 'boolean' } },
  parse({ values, positionals }) {
    expectPositionals('purge', positionals, 0);
    const olderThan = values['older-than'];
    if (typeof olderThan !== 'string') throw new UsageError('purge needs --older-than <duration>, for example --older-than 30d');
    const ms = parseDuration(olderThan);
    if (ms === null) throw new UsageError(`--older-than '${olderThan.slice(0, 40)}' is not a duration: ${DURATION_FORMAT}`);
    return { olderThan, ms, dryRun: values['dry-run'] === true };
  },
  async run(context, { olderThan, ms, dryRun }) {
    const { countPurgeable, purgeEndedCommands, retentionCutoff } = await import('../../processor/retention.ts');
    const cutoff = await retentionCutoff(context.pool, ms);
    const eligible = await countPurgeable(context.pool, context.config.ONCELY_SCHEMA, cutoff);
    let purged = dryRun ? eligible : 0;
    if (!dryRun && eligible > 0) {
      const bar = context.progress('purging', eligible);
      try {
        ({ purged } = await purgeEndedCommands(context.pool, { schema: context.config.ONCELY_SCHEMA, cutoff, wait: true, onBatch: (deleted) => bar.increment(deleted) }));
      } finally {
        bar.stop();
      }
    }
    const report: PurgeReport = { purged, cutoff: cutoff.toISOString(), dryRun };
    context.report(
      report,
      ({ purged: n, cutoff: at }) => `${dryRun ? 'would purge' : 'purged'} ${n} ended command${n === 1 ? '' : 's'} older than ${olderThan} (ended before ${at})`,
    );
  },
};
