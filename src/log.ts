import { isSpanContextValid, trace } from '@opentelemetry/api';
import { pino, type DestinationStream, type Logger } from 'pino';

export type { Logger };

/**
 * The ids of the active span, so a log line can be found from its trace and the other way round. Without
 * tracing there is never an active span: one no-op API call per line.
 */
function traceIds(): Record<string, string> {
  const span = trace.getActiveSpan();
  if (!span) return {};
  const context = span.spanContext();
  return isSpanContextValid(context) ? { trace_id: context.traceId, span_id: context.spanId } : {};
}

/**
 * Structured JSON logs on stdout (or `destination`), with `trace_id`/`span_id` inside a traced request or
 * batch. API keys and payloads are never logged.
 *
 * @example
 * const log = createLogger('info', 'oncely-worker');
 */
export function createLogger(level: string, name: string, destination?: DestinationStream): Logger {
  const options = { name, level, redact: ['req.headers.authorization', 'apiKeys'], mixin: traceIds };
  return destination ? pino(options, destination) : pino(options);
}
