// The reconciler role: queued or retrying commands whose job vanished are queued again (one sweep at a
// time cluster-wide). Off when RECONCILE_INTERVAL_SECONDS is 0.
import { reconcileGraceSeconds, startReconciler } from '../processor/reconcile.ts';
import { withoutLiveJobIn } from '../queue/live-jobs.ts';
import type { Base, Stoppable } from './base.ts';

/**
 * Starts the reconcile sweep, or nothing when it is turned off.
 *
 * @example
 * const reconciler = startReconcilerRole(base);
 */
export function startReconcilerRole(base: Base, onReconciled?: (count: number) => void): Stoppable | undefined {
  const { config, metrics, schema } = base;
  if (config.RECONCILE_INTERVAL_SECONDS <= 0) return undefined;
  return startReconciler({
    pool: base.pool,
    schema,
    intervalSeconds: config.RECONCILE_INTERVAL_SECONDS,
    graceSeconds: reconcileGraceSeconds(config.JOB_EXPIRE_SECONDS),
    withoutLiveJob: withoutLiveJobIn(schema),
    enqueue: base.queue.enqueue,
    log: base.log,
    onReconciled: (count: number) => {
      metrics.reconciled(count);
      onReconciled?.(count);
    },
  });
}
