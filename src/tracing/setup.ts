// The only module that loads the OpenTelemetry SDK. src/tracing/index.ts imports it dynamically, and only
// when tracing is on, so a process without OTEL_* variables never loads it.
import { context, diag, DiagLogLevel, propagation, ROOT_CONTEXT, trace, type Tracer } from '@opentelemetry/api';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { defaultResource, resourceFromAttributes } from '@opentelemetry/resources';
import { BatchSpanProcessor, ConsoleSpanExporter, NodeTracerProvider, type SpanExporter } from '@opentelemetry/sdk-trace-node';
import type { Logger } from '../log.ts';
import type { TracingSettings } from './settings.ts';

/** The semantic-conventions attribute (its value is stable; the package is 10 MiB for one string). */
const ATTR_SERVICE_NAME = 'service.name';

export interface TracerHandle {
  tracer: Tracer;
  /** Exports what is still buffered and unregisters the SDK once the last user is done. */
  shutdown: () => Promise<void>;
}

export interface TracerOptions {
  /** Replaces the exporters the settings name (tests pass an InMemorySpanExporter). */
  exporters?: SpanExporter[];
  /** Where the SDK's own problems go (an unreachable collector), at warn. */
  log?: Logger;
}

/** The process's one registered provider: the context manager and propagator are process-wide globals. */
let active: { provider: NodeTracerProvider; tracer: Tracer; users: number } | undefined;

/**
 * Starts the SDK from the resolved settings, passing every value explicitly: a NodeTracerProvider with a
 * BatchSpanProcessor per exporter (OTLP/HTTP or console), registered with an AsyncLocalStorage context
 * manager and the W3C trace-context (and baggage) propagator. Several systems in one process share it; the
 * first one's settings win.
 *
 * @example
 * const { tracer, shutdown } = startTracerProvider(settings, { log });
 */
export function startTracerProvider(settings: TracingSettings, options: TracerOptions = {}): TracerHandle {
  if (!active) {
    const exporters =
      options.exporters ??
      settings.exporters.map((name) =>
        name === 'console' ? new ConsoleSpanExporter() : new OTLPTraceExporter({ url: settings.otlpUrl, headers: settings.otlpHeaders }),
      );
    const provider = new NodeTracerProvider({
      resource: defaultResource().merge(resourceFromAttributes({ [ATTR_SERVICE_NAME]: settings.serviceName })),
      spanProcessors: exporters.map((exporter) => new BatchSpanProcessor(exporter, { scheduledDelayMillis: settings.scheduledDelayMillis })),
    });
    // Defaults: AsyncLocalStorageContextManager, and W3C trace-context plus baggage as the propagator.
    provider.register();
    const log = options.log;
    if (log) {
      // Export failures are reported through diag; without a logger they would vanish. One line, outside any
      // span (the export is not part of the trace whose context happens to be active), without the stack.
      const warn = (message: string) => context.with(ROOT_CONTEXT, () => log.warn(`opentelemetry: ${firstLine(message)}`));
      const ignore = () => {};
      diag.setLogger({ error: warn, warn, info: ignore, debug: ignore, verbose: ignore }, { logLevel: DiagLogLevel.WARN, suppressOverrideMessage: true });
    }
    active = { provider, tracer: provider.getTracer('oncely'), users: 0 };
  }
  const current = active;
  current.users++;
  let stopped = false;
  return {
    tracer: current.tracer,
    async shutdown() {
      if (stopped) return;
      stopped = true;
      if (--current.users > 0) return;
      if (active === current) active = undefined;
      await current.provider.shutdown();
      trace.disable();
      context.disable();
      propagation.disable();
      diag.disable();
    },
  };
}

/** The SDK reports an error as its JSON (stack included): keep the message and code. */
function firstLine(message: string): string {
  try {
    const error = JSON.parse(message) as { message?: unknown; code?: unknown };
    if (typeof error.message === 'string') return typeof error.code === 'string' ? `${error.message} (${error.code})` : error.message;
  } catch {
    // Not JSON: a plain message.
  }
  return message.split('\n')[0] ?? message;
}
