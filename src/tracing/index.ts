// Tracing, request to effect. Everything here is on the OpenTelemetry API, which is a no-op without an SDK;
// the SDK itself (setup.ts) is imported only when the OTEL_* variables turn tracing on.
import type { MiddlewareHandler } from 'hono';
import type { SpanExporter } from '@opentelemetry/sdk-trace-node';
import type { Config } from '../config.ts';
import type { Logger } from '../log.ts';
import type { ApplyTracer, Delivery, Settlement } from '../processor/apply.ts';
import type { CommandService } from '../processor/commands.ts';
import { loadOptional } from '../optional.ts';
import { traceBatch } from './batch.ts';
import { traceRequests } from './http.ts';
import { tracingSettings } from './settings.ts';
import { traceSubmissions } from './submit.ts';

export { formatTraceParent, parseTraceParent } from './trace-parent.ts';
export { tracingSettings, type TracingSettings } from './settings.ts';

/** The OpenTelemetry SDK packages setup.ts imports (optional peer dependencies: only a traced process needs them). */
const TRACING_PACKAGES = ['@opentelemetry/sdk-trace-node', '@opentelemetry/exporter-trace-otlp-http', '@opentelemetry/resources'];

/** Tracing of one system: a server span per submission request, its submission, and each command's batch and apply. */
export interface Tracing {
  /** Hono middleware: a server span for POST /v1/commands and /v1/commands/batch (continuing a `traceparent`). */
  requests: MiddlewareHandler;
  /** The command service with each submission in an `oncely.submit` span whose traceparent is stored with its commands. */
  submissions(service: CommandService): CommandService;
  /** Runs one batch in an `oncely.batch` span and records an `oncely.apply` span per command. */
  batch(deliveries: readonly Delivery[], run: (observer: ApplyTracer) => Promise<Settlement[]>): Promise<Settlement[]>;
  /** Exports what is buffered; the system calls it on stop. */
  shutdown(): Promise<void>;
}

/**
 * Starts tracing if the configuration turns it on (see `tracingSettings`), else returns undefined and loads
 * nothing: the caller then skips every tracing step.
 *
 * @example
 * const tracing = await startTracing(config, { log });
 * const commands = tracing ? tracing.submissions(service) : service;
 */
export async function startTracing(config: Config, options: { log?: Logger; exporters?: SpanExporter[] } = {}): Promise<Tracing | undefined> {
  const settings = tracingSettings(config);
  if (!settings) return undefined;
  const { startTracerProvider } = await loadOptional('tracing (the OTEL_* variables)', TRACING_PACKAGES, () => import('./setup.ts'));
  const { tracer, shutdown } = startTracerProvider(settings, options);
  return {
    requests: traceRequests(tracer),
    submissions: (service) => traceSubmissions(service, tracer),
    batch: (deliveries, run) => traceBatch(tracer, deliveries, run),
    shutdown,
  };
}

export type { SpanExporter };
