// The worker role: takes jobs from the queue and applies their commands, batch by batch.
import { markDead, type ApplyHooks, type ApplyTracer } from '../processor/apply.ts';
import { applyBatch } from '../processor/batch.ts';
import type { Base, Stoppable } from './base.ts';

/**
 * Starts applying commands on the base's queue. Its jobs stop with the queue, which the base stops after
 * every role.
 *
 * @example
 * const worker = await startWorkerRole(base);
 */
export async function startWorkerRole(base: Base, hooks?: ApplyHooks): Promise<Stoppable> {
  const { config, log, metrics, schema, tracing, registry } = base;
  await base.queue.work({
    concurrency: config.WORKER_CONCURRENCY,
    batchSize: config.WORKER_BATCH_SIZE,
    pollIntervalSeconds: config.POLL_INTERVAL_SECONDS,
    apply: (sql, deliveries) => {
      const run = (tracer?: ApplyTracer) =>
        metrics.timeBatch(deliveries.length, () =>
          applyBatch(sql, registry, deliveries, {
            schema,
            maxFailures: config.RETRY_LIMIT,
            retryDelayMaxSeconds: config.RETRY_DELAY_MAX_SECONDS,
            // Well inside the job's expiry, so a batch of slow handlers defers its tail instead of expiring whole.
            batchBudgetMs: (config.JOB_EXPIRE_SECONDS * 1000) / 3,
            // Imperative handlers only: they lock in their own order, so a blocked one gives way.
            lockTimeoutMs: Math.min(2000, (config.JOB_EXPIRE_SECONDS * 1000) / 4),
            ...(hooks ? { hooks } : {}),
            ...(tracer ? { tracer } : {}),
          }),
        );
      return tracing ? tracing.batch(deliveries, run) : run();
    },
    onDead: (sql, job, deadLetteredAt) => markDead(sql, schema, job.clientId, job.id, deadLetteredAt),
    onSettled: (delivery, settlement) => {
      metrics.settled(settlement);
      log.debug({ command: delivery.id, attempt: delivery.attempt, settlement }, 'command settled');
    },
  });
  return { stop: () => undefined };
}
