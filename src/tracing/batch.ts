import { context, ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, type Attributes, type Link, type Tracer } from '@opentelemetry/api';
import type { ApplyTracer, Delivery, Settlement } from '../processor/apply.ts';
import type { CommandRow } from '../processor/sql.ts';
import { keyOf } from '../processor/command-key.ts';
import { parseTraceParent } from './trace-parent.ts';

/**
 * Runs one batch inside an `oncely.batch` span (active while it runs, so its log lines carry its trace id)
 * that links the submission span of every command it carries; then, per command, records an
 * `oncely.apply` span whose parent is the submission context stored with the command, so the submitter's
 * trace shows the request, the submission, and the command being picked up, applied and its outcome
 * recorded. The processor only tells `locked(rows)`; outcomes are read from the settlements.
 *
 * @example
 * apply: (sql, deliveries) => traceBatch(tracer, deliveries, (observer) => applyBatch(sql, registry, deliveries, { ...options, tracer: observer }))
 */
export function traceBatch(tracer: Tracer, deliveries: readonly Delivery[], run: (observer: ApplyTracer) => Promise<Settlement[]>): Promise<Settlement[]> {
  const attributes = { 'oncely.batch.size': deliveries.length };
  return tracer.startActiveSpan('oncely.batch', { kind: SpanKind.CONSUMER, attributes }, async (batch) => {
    let rows = new Map<string, CommandRow>();
    let pickedUp = Date.now();
    const observer: ApplyTracer = {
      locked(locked) {
        // The first lock of the batch names every command; fallback passes lock subsets of them again.
        if (rows.size > 0) return;
        pickedUp = Date.now();
        rows = new Map(locked.map((row) => [keyOf(row.client_id, row.id), row]));
        const links: Link[] = [];
        for (const row of rows.values()) {
          const submitted = parseTraceParent(row.trace_parent);
          if (submitted) links.push({ context: submitted, attributes: { 'oncely.command.id': row.id } });
        }
        if (links.length > 0) batch.addLinks(links);
      },
    };
    try {
      const settlements = await run(observer);
      const batchLink: Link = { context: batch.spanContext() };
      for (const [i, delivery] of deliveries.entries()) {
        const row = rows.get(keyOf(delivery.clientId, delivery.id));
        const settlement = settlements[i];
        if (!row || !settlement) continue;
        const submitted = parseTraceParent(row.trace_parent);
        // Without a stored context (submitted while tracing was off) the command's span hangs off the batch.
        const parent = submitted ? trace.setSpanContext(ROOT_CONTEXT, submitted) : context.active();
        const span = tracer.startSpan(
          'oncely.apply',
          { kind: SpanKind.CONSUMER, startTime: pickedUp, links: [batchLink], attributes: applyAttributes(row, delivery, settlement) },
          parent,
        );
        if (settlement.kind !== 'complete') span.setStatus({ code: SpanStatusCode.ERROR, message: settlement.error.code });
        span.end();
      }
      return settlements;
    } catch (err) {
      batch.setStatus({ code: SpanStatusCode.ERROR, message: (err as { code?: string }).code ?? (err as Error).name });
      throw err;
    } finally {
      batch.end();
    }
  });
}

function applyAttributes(row: CommandRow, delivery: Delivery, settlement: Settlement): Attributes {
  const status = settlement.kind === 'complete' ? settlement.outcome : settlement.kind === 'retry' ? 'retrying' : 'dead';
  return {
    'oncely.command.id': row.id,
    'oncely.command.type': row.type,
    // The attempt the processor records: a row's own count wins over a fresh retry job's.
    'oncely.command.attempt': status === 'already-terminal' ? delivery.attempt : Math.max(delivery.attempt, row.attempts + 1),
    'oncely.command.status': status,
    ...(settlement.kind === 'complete' ? {} : { 'oncely.command.error': settlement.error.code }),
  };
}
