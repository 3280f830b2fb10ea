import { isSpanContextValid, type SpanContext } from '@opentelemetry/api';

const TRACE_PARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;

/**
 * A span context as a W3C `traceparent` (version 00): what is stored with a command. Undefined for an
 * invalid context (tracing off), so nothing is stored then.
 *
 * @example
 * formatTraceParent(span.spanContext()) // '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01'
 */
export function formatTraceParent(context: SpanContext): string | undefined {
  if (!isSpanContextValid(context)) return undefined;
  return `00-${context.traceId}-${context.spanId}-${(context.traceFlags & 0xff).toString(16).padStart(2, '0')}`;
}

/**
 * A stored `traceparent` back as a remote span context: the parent of the worker's spans. Undefined for
 * null or anything that is not a valid version-00 traceparent (a row written before tracing existed).
 *
 * @example
 * parseTraceParent('00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01')?.traceId
 */
export function parseTraceParent(value: string | null | undefined): SpanContext | undefined {
  const match = value ? TRACE_PARENT.exec(value) : null;
  if (!match) return undefined;
  const context: SpanContext = { traceId: match[1]!, spanId: match[2]!, traceFlags: Number.parseInt(match[3]!, 16), isRemote: true };
  return isSpanContextValid(context) ? context : undefined;
}
