// The inbox's metric family, defined on the system's own registry so /metrics shows it with the rest, and
// the submission counters for commands that came from a broker.
import { Counter } from 'prom-client';
import type { Metrics, SubmissionAnswer, SubmittedCommand } from '../metrics/registry.ts';

export const INBOX_RESULTS = ['accepted', 'duplicate', 'dead_lettered', 'retried'] as const;
export type InboxResult = (typeof INBOX_RESULTS)[number];

export interface InboxMetrics {
  /** One delivery settled (or one submission attempt failed: `retried`). */
  delivery(source: string, result: InboxResult): void;
}

/**
 * `oncely_inbox_deliveries_total{source, result}` on the system's registry; a duplicate also counts as a
 * duplicate absorbed at stage `inbox`.
 *
 * @example
 * const inboxMetrics = createInboxMetrics(metrics, ['rabbitmq']);
 * inboxMetrics.delivery('rabbitmq', 'accepted');
 */
export function createInboxMetrics(metrics: Metrics, sources: readonly string[]): InboxMetrics {
  const deliveries = new Counter({
    name: 'oncely_inbox_deliveries_total',
    help: 'Broker deliveries taken by the inbox, by source and result: accepted (new command committed, then acked), duplicate (already stored, acked), dead_lettered, retried (a submission attempt failed; the delivery is held).',
    labelNames: ['source', 'result'] as const,
    registers: [metrics.registry],
  });
  for (const source of sources) for (const result of INBOX_RESULTS) deliveries.inc({ source, result }, 0);
  return {
    delivery(source, result) {
      deliveries.inc({ source, result });
      if (result === 'duplicate') metrics.duplicate('inbox');
    },
  };
}

/**
 * The command service's `onSubmitted` for the inbox's submissions: counted like HTTP's, except that a
 * duplicate is counted by the inbox (stage `inbox`, once it is acked) rather than as a resubmission.
 *
 * @example
 * createCommandService({ pool, enqueue, listener: undefined, onSubmitted: inboxSubmissions(metrics) });
 */
export function inboxSubmissions(metrics: Metrics): (commands: readonly SubmittedCommand[], answers: readonly SubmissionAnswer[]) => void {
  return (commands, answers) => {
    for (const [i, answer] of answers.entries()) {
      metrics.submitted(commands[i]?.type, answer.outcome === 'accepted' ? 'new' : answer.outcome === 'reused' ? 'reused_key' : 'replay');
    }
  };
}
