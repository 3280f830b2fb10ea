import { SpanKind, SpanStatusCode, type Tracer } from '@opentelemetry/api';
import type { CommandService } from '../processor/commands.ts';
import { formatTraceParent } from './trace-parent.ts';

/**
 * The command service with each submission in an `oncely.submit` span (a child of the request's server
 * span): the span's traceparent is stored with every command it submits, so the worker's `oncely.apply`
 * span is its child, in the same trace. A duplicate keeps the traceparent of the submission that stored it.
 *
 * @example
 * const commands = traceSubmissions(createCommandService({ pool, enqueue, listener }), tracer);
 */
export function traceSubmissions(service: CommandService, tracer: Tracer): CommandService {
  return {
    ...service,
    submit(clientId, commands) {
      const first = commands[0];
      const attributes = {
        'oncely.submit.commands': commands.length,
        ...(commands.length === 1 && first ? { 'oncely.command.id': first.id, 'oncely.command.type': first.type } : {}),
      };
      return tracer.startActiveSpan('oncely.submit', { kind: SpanKind.PRODUCER, attributes }, async (span) => {
        try {
          const traceParent = formatTraceParent(span.spanContext());
          const submissions = await service.submit(clientId, traceParent ? commands.map((command) => ({ ...command, traceParent })) : commands);
          span.setAttribute('oncely.submit.accepted', submissions.filter((s) => s.outcome === 'accepted').length);
          return submissions;
        } catch (err) {
          span.setStatus({ code: SpanStatusCode.ERROR, message: (err as Error).message });
          throw err;
        } finally {
          span.end();
        }
      });
    },
  };
}
